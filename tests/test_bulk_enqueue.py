"""Many jobs enqueued at once: a thousand messages a SQLite transaction or Redis command.

The batch size is made small here (3) so that a handful of real jobs spans
several batches, a short last one included.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import TRIVIAL, corpus, iq, on_servers, state

pytestmark = pytest.mark.usefixtures("backend")

COUNT = 8  # three batches of three: 3, 3, 2


def _variants(directory: Path, count: int) -> list[Path]:
    """Distinct PDFs: the same document with a different trailing comment."""
    directory.mkdir()
    data = corpus(TRIVIAL).read_bytes()
    paths = []
    for i in range(count):
        path = directory / f"doc-{i:02d}.pdf"
        path.write_bytes(data + f"\n% variant {i}\n".encode())
        paths.append(path)
    return paths


def _no_single_enqueue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Huey's one-message writes fail: only the bulk path can enqueue."""
    import huey.storage

    for storage in (huey.storage.SqliteStorage, huey.storage.RedisStorage):

        def refuse(self: Any, data: bytes, priority: Any = None) -> None:
            raise AssertionError("a message was enqueued on its own")

        monkeypatch.setattr(storage, "enqueue", refuse)


def test_a_sync_enqueues_in_batches_and_a_worker_runs_each_job_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: Any
) -> None:
    import ingestq.queue.huey as queue_huey
    from ingestq.config import load_settings
    from ingestq.queue import open_queue
    from ingestq.state import events

    _variants(tmp_path / "docs", COUNT)
    with monkeypatch.context() as patch:
        patch.setattr(queue_huey, "BATCH", 3)
        _no_single_enqueue(patch)
        out = json.loads(iq("add", str(tmp_path / "docs"), "--sync", "--json", check=True).stdout)
    ids = [entry["id"] for entry in out["jobs"]]
    assert len(set(ids)) == COUNT
    # Every message is there before a worker's recovery could make up for one.
    assert open_queue(load_settings()).pending_job_ids() == set(ids)

    assert iq("worker", "--burst", check=True).returncode == 0

    db = state()
    try:
        for job_id in ids:
            claims = [e for e in events.events_for(db, job_id) if e["event"] == "claimed"]
            detail = json.loads(iq("status", job_id, "--json", check=True).stdout)[0]
            assert (detail["state"], detail["attempts"], len(claims)) == ("completed", 1, 1)
    finally:
        db.close()
    # Nothing left behind to run a second time.
    assert open_queue(load_settings()).pending_job_ids() == set()


def _stored(queue: Any) -> list[Any]:
    """The messages the queue holds, in the order a worker takes them, as Huey reads them."""
    huey = queue.huey
    return [huey.serializer.deserialize(bytes(item)) for item in huey.storage.enqueued_items()]


def test_bulk_messages_are_those_huey_writes_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import ingestq.queue.huey as queue_huey
    from ingestq.config import load_settings
    from ingestq.queue import open_queue
    from ingestq.state.queue_storage import bulk_sqlite_storage

    settings = load_settings()
    single = open_queue(settings)
    single.enqueue(["job-1", "job-2", "job-3", "job-4"])  # Huey's enqueue, one at a time
    before = _stored(single)
    single.huey.storage.flush_queue()

    monkeypatch.setattr(queue_huey, "BATCH", 3)
    bulk = open_queue(settings, sqlite_storage=bulk_sqlite_storage)
    if not on_servers():
        assert hasattr(bulk.huey.storage, "enqueue_many")
        assert not hasattr(single.huey.storage, "enqueue_many")
        _no_single_enqueue(monkeypatch)
    bulk.enqueue(["job-1", "job-2", "job-3", "job-4"])
    after = _stored(bulk)

    assert len(before) == len(after) == 4
    # The same messages but for each one's random id.
    assert [m._replace(id=None) for m in after] == [m._replace(id=None) for m in before]
    assert [m.name for m in after] == ["ingestq.queue.huey.process_job"] * 4
    assert [m.args for m in after] == [("job-1",), ("job-2",), ("job-3",), ("job-4",)]
    assert len({m.id for m in after}) == 4
    if not on_servers():
        # The rows' other columns, as Huey's own insert fills them.
        with sqlite3.connect(settings.queue_db) as conn:
            rows = conn.execute("SELECT queue, priority, typeof(data) FROM task").fetchall()
        assert rows == [("ingestq", 0.0, "blob")] * 4
    # A worker's read is unchanged: it takes them in order.
    assert [bulk.huey.dequeue().args for _ in range(4)] == [(f"job-{i}",) for i in range(1, 5)]
    assert bulk.huey.dequeue() is None


def test_a_failed_batch_writes_none_of_its_messages(tmp_path: Path) -> None:
    import huey.storage

    from ingestq.state.queue_storage import bulk_sqlite_storage

    if on_servers():
        pytest.skip("a SQLite transaction")
    path = str(tmp_path / "atomic.db")
    storage = bulk_sqlite_storage(huey.storage.SqliteStorage)("q", filename=path)
    storage.enqueue_many([b"kept"])
    # Passed through as it is, a NULL message breaks the table's NOT NULL after
    # the batch's first row is written.
    storage.to_blob = lambda data: data
    with pytest.raises(sqlite3.IntegrityError):
        storage.enqueue_many([b"first", None])  # type: ignore[list-item]
    assert [bytes(d) for d in storage.enqueued_items()] == [b"kept"]
    assert bulk_sqlite_storage(huey.storage.SqliteStorage) is type(storage)


def test_the_queue_commits_without_waiting_for_the_disk(tmp_path: Path) -> None:
    """synchronous=NORMAL, as state.db: Huey's FULL synced every upload's message."""
    import huey.storage

    from ingestq.state.queue_storage import bulk_sqlite_storage

    if on_servers():
        pytest.skip("a SQLite setting")
    storage = bulk_sqlite_storage(huey.storage.SqliteStorage)("q", filename=str(tmp_path / "q.db"))
    storage.enqueue_many([b"one"])
    with storage.db() as cursor:
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
