"""Blobs in the state database: parts, streaming, races, pruning, and another host reading them.

The store's tests run on both databases (the tables exist on SQLite too); the
ones that need a second host or a server's memory figures run on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import FOUR_PAGES, Servers, corpus, get_job, run_burst, run_cli
from ingestq.config import load_settings
from ingestq.errors import BlobMissingError
from ingestq.state import open_state
from ingestq.state.db import Database, SqliteDatabase, fetchval
from ingestq.store import open_blob_store
from ingestq.store.pgblobs import PART_SIZE, PgBlobStore

MB = 1024 * 1024
OLD = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def pg_env(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh schema on the run's PostgreSQL (and queue and Chroma), set in the environment."""
    name = servers.fresh()
    env = servers.env(name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        yield env
    finally:
        servers.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    handle: Database
    if request.param == "sqlite":
        handle = SqliteDatabase(tmp_path / "state.db")
    else:
        request.getfixturevalue("pg_env")
        handle = open_state(load_settings())
    try:
        yield handle
    finally:
        handle.close()


_CYCLE = bytes(range(251)) * (300_000 // 251 + 2)


class Pattern(io.RawIOBase):
    """``size`` bytes made as they are read, never held; it records the largest read asked."""

    def __init__(self, size: int, pause_at: int = -1, barrier: Any = None) -> None:
        self.left = size
        self.made = 0
        self.largest = 0
        self.pause_at, self.barrier = pause_at, barrier

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.largest = max(self.largest, len(buffer))
        if self.barrier is not None and self.made >= self.pause_at:
            self.barrier.wait(30)  # both puts are half written: now race to the end
            self.barrier = None
        n = min(len(buffer), self.left, 300_000)  # short reads, as from a socket
        start = self.made % 251  # byte p is p % 251, however it is read
        buffer[:n] = _CYCLE[start : start + n]
        self.left -= n
        self.made += n
        return n


def pattern_digest(size: int) -> str:
    hasher, source = hashlib.sha256(), Pattern(size)
    while block := source.read(MB):
        hasher.update(block)
    return hasher.hexdigest()


def parts_of(db: Database, digest: str) -> int:
    return int(
        fetchval(
            db,
            "SELECT count(*) FROM blob_parts p JOIN blobs b ON b.upload = p.upload"
            " WHERE b.digest = ?",
            (digest,),
        )
    )


def all_parts(db: Database) -> int:
    return int(fetchval(db, "SELECT count(*) FROM blob_parts"))


def test_a_blob_goes_in_and_out_in_parts(db: Database, tmp_path: Path) -> None:
    store = PgBlobStore(db)
    data = os.urandom(5 * MB + 12345)
    pdf = tmp_path / "big.pdf"
    pdf.write_bytes(data)
    digest, size = store.put_file(pdf)
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert parts_of(db, digest) == 6 == all_parts(db)
    assert store.exists(digest) and store.size(digest) == len(data)
    with store.open(digest) as blob:
        assert blob.read() == data
        blob.seek(PART_SIZE - 10)  # across a part boundary
        assert blob.read(20) == data[PART_SIZE - 10 : PART_SIZE + 10]
        blob.seek(-5, io.SEEK_END)
        assert blob.read() == data[-5:]
    with store.local_path(digest) as path:
        assert path.read_bytes() == data
    assert not path.exists(), "the spooled copy is deleted after use"
    # The same bytes again: one blob, one set of parts.
    assert store.put_stream(io.BytesIO(data)) == (digest, size)
    assert store.put_file(pdf) == (digest, size)
    assert all_parts(db) == 6
    assert fetchval(db, "SELECT count(*) FROM blobs") == 1


def test_an_empty_and_a_one_part_blob(db: Database) -> None:
    store = PgBlobStore(db)
    empty, _ = store.put_stream(io.BytesIO(b""))
    with store.open(empty) as blob:
        assert blob.read() == b""
    exact, size = store.put_stream(io.BytesIO(b"x" * PART_SIZE))
    assert size == PART_SIZE and parts_of(db, exact) == 1


def test_no_read_is_bigger_than_a_part(db: Database) -> None:
    store = PgBlobStore(db)
    source = Pattern(7 * MB + 3)
    digest, size = store.put_stream(source)  # type: ignore[arg-type]
    assert size == 7 * MB + 3 and digest == pattern_digest(size)
    assert 0 < source.largest <= PART_SIZE
    assert parts_of(db, digest) == 8, "short reads are gathered into whole parts"


STREAMING = """
import hashlib, io, re, sys
sys.path[:0] = [sys.argv[1]]
from test_pgblobs import Pattern
from ingestq.config import load_settings
from ingestq.store import open_blob_store

def rss(field):
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))

def reset():  # the peak starts again from what is resident now
    open("/proc/self/clear_refs", "w").write("5")
    return rss("VmRSS")

store = open_blob_store(load_settings())
store.put_stream(io.BytesIO(b"warm up" * 200000))
before = reset()
digest, size = store.put_stream(Pattern(int(sys.argv[2])))
put_kb = rss("VmHWM") - before
before = reset()
hasher = hashlib.sha256()
with store.open(digest) as blob:
    while block := blob.read(256 * 1024):
        hasher.update(block)
read_kb = rss("VmHWM") - before
assert hasher.hexdigest() == digest
print(put_kb, read_kb)
"""


def test_a_big_blob_streams_through_without_being_held(pg_env: dict[str, str]) -> None:
    size = 48 * MB
    proc = subprocess.run(
        [sys.executable, "-c", STREAMING, str(Path(__file__).parent), str(size)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    put_kb, read_kb = map(int, proc.stdout.split())
    # Held whole, either way would grow by the blob's 48 MB.
    assert put_kb * 1024 < size / 3, f"put grew the memory by {put_kb} kB"
    assert read_kb * 1024 < size / 3, f"reading grew the memory by {read_kb} kB"


def test_two_hosts_storing_the_same_bytes_at_once(pg_env: dict[str, str]) -> None:
    settings = load_settings()
    hosts = [open_state(settings), open_state(settings)]  # a pool each, as two hosts
    barrier = threading.Barrier(2)
    size = 3 * MB + 7
    results: list[tuple[str, int]] = []
    errors: list[BaseException] = []

    def put(db: Database) -> None:
        try:
            source = Pattern(size, pause_at=MB, barrier=barrier)
            results.append(PgBlobStore(db).put_stream(source))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(db,)) for db in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert errors == [] and len(results) == 2
        assert results[0] == results[1] == (pattern_digest(size), size)
        db = hosts[0]
        assert fetchval(db, "SELECT count(*) FROM blobs") == 1
        assert all_parts(db) == parts_of(db, results[0][0]) == 4, "the loser's parts are gone"
        with PgBlobStore(hosts[1]).open(results[0][0]) as blob:
            assert hashlib.sha256(blob.read()).hexdigest() == results[0][0]
    finally:
        for db in hosts:
            db.close()


def test_a_missing_blob_is_blob_missing(db: Database) -> None:
    store = PgBlobStore(db)
    absent = "ab" * 32
    for use in (store.open, lambda d: store.local_path(d).__enter__(), store.open):
        with pytest.raises(BlobMissingError, match="missing from the blob store"):
            use(absent)
    with pytest.raises(BlobMissingError):
        store.open("")
    assert not store.exists(absent) and store.size(absent) is None
    assert not store.delete(absent)
    # Deleted while being read: the next part is missing, said as such.
    digest, _ = store.put_stream(io.BytesIO(os.urandom(2 * MB + 1)))
    with store.open(digest) as blob:
        blob.read(100)
        assert store.delete(digest)
        with pytest.raises(BlobMissingError):
            blob.read()


def test_delete_and_older_than(db: Database) -> None:
    store = PgBlobStore(db)
    old, _ = store.put_stream(io.BytesIO(b"old bytes" * 300_000))
    young, _ = store.put_stream(io.BytesIO(b"young bytes"))
    db.execute("UPDATE blobs SET stored_at = ?", (OLD,))
    assert sorted(store.older_than(86400)) == sorted([old, young])
    # Stored again: young again, so prune cannot take it for an old orphan.
    assert store.put_stream(io.BytesIO(b"young bytes"))[0] == young
    assert list(store.older_than(86400)) == [old]
    assert store.delete(old) and not store.delete(old)
    assert not store.exists(old) and list(store.older_than(86400)) == []
    assert all_parts(db) == parts_of(db, young) == 1


def test_a_put_that_died_leaves_nothing_for_long(db: Database) -> None:
    store = PgBlobStore(db)

    class Broken(Pattern):
        def readinto(self, buffer: Any) -> int:
            if self.made > 2 * MB:
                raise OSError("the disk went away")
            return super().readinto(buffer)

    with pytest.raises(OSError, match="went away"):
        store.put_stream(Broken(5 * MB))  # type: ignore[arg-type]
    assert all_parts(db) == 0, "a put that fails takes its parts back"
    # A put killed outright leaves its parts: prune sweeps them once they are old.
    from ingestq.state import blobdata

    blobdata.write_part(db, "killed-upload", 0, b"half a file")
    assert store.drop_incomplete(3600) == 0, "it may still be being written"
    db.execute("UPDATE blob_parts SET written_at = ?", (OLD,))
    kept, _ = store.put_stream(io.BytesIO(b"a whole file"))
    db.execute("UPDATE blobs SET stored_at = ?", (OLD,))
    db.execute("UPDATE blob_parts SET written_at = ?", (OLD,))
    assert store.drop_incomplete(3600, dry_run=True) == len(b"half a file")
    assert all_parts(db) == 2
    assert store.drop_incomplete(3600) == len(b"half a file")
    assert all_parts(db) == 1 and store.exists(kept), "a named blob is not incomplete"


def test_the_factory_picks_the_database_on_a_server(pg_env: dict[str, str], home: Path) -> None:
    settings = load_settings()
    state = open_state(settings)
    try:
        shared = open_blob_store(settings, state)
        assert isinstance(shared, PgBlobStore) and shared.db is state
        shared.close()
        assert fetchval(state, "SELECT 1") == 1, "a store given the database does not close it"
        own = open_blob_store(settings)
        assert isinstance(own, PgBlobStore) and own.db is not state
        own.close()
    finally:
        state.close()
    assert not (home / "blobs").exists()


def test_a_file_added_on_one_host_is_ingested_on_another(
    pg_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: Any
) -> None:
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(corpus(FOUR_PAGES).read_bytes())
    added = run_cli("add", str(pdf), "--json", env={"INGESTQ_HOME": str(host_a)}, check=True)
    [entry] = json.loads(added.stdout)
    job_id = entry["id"]
    pdf.unlink()  # the copy is what counts
    assert not (host_a / "blobs").exists(), "host A kept no copy of its own"
    monkeypatch.setenv("INGESTQ_HOME", str(host_b))
    run_burst(embedder)
    job = get_job(job_id)
    assert job.state == "completed", job.error
    assert job.pages == 4 and job.vector_count > 0
    assert not (host_b / "blobs").exists(), "the worker read it from PostgreSQL"
