"""The file blob store writes new blobs past the page cache (O_DIRECT) where it can,
and every byte still lands where it should: whole blocks, tails, empty files,
many writers at once, and file systems that refuse O_DIRECT."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import random
import threading
from pathlib import Path

import pytest

from ingestq.store import direct
from ingestq.store.blobs import FileBlobStore

MB = 1024 * 1024
# Around every boundary the writer has: a block (4 KB), its buffer (512 KB), the
# blob store's reads (1 MB), and nothing at all.
BUF = direct.BUFFER
SIZES = [0, 1, 4095, 4096, 4097, BUF - 1, BUF, BUF + 1, MB - 1, MB, MB + 1, 3 * MB + 17]


def supports_direct(folder: Path) -> bool:
    try:
        fd = os.open(folder / "probe", os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600)
    except OSError:
        return False
    os.close(fd)
    return True


class Dribble(io.RawIOBase):
    """A stream that hands out its bytes in pieces of random sizes, as a socket does."""

    def __init__(self, data: bytes, seed: int) -> None:
        self.data, self.at, self.rng = data, 0, random.Random(seed)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self.rng.randint(1, 200_000) if size < 0 else min(size, self.rng.randint(1, size))
        out = self.data[self.at : self.at + n]
        self.at += len(out)
        return out


@pytest.mark.parametrize("size", SIZES)
def test_every_size_is_stored_byte_for_byte(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    store = FileBlobStore(tmp_path / "blobs")
    digest, stored = store.put_stream(Dribble(data, size))  # type: ignore[arg-type]
    assert (digest, stored) == (hashlib.sha256(data).hexdigest(), size)
    assert store.path(digest).read_bytes() == data
    # Nothing half-written is left behind.
    assert [p.name for p in (tmp_path / "blobs").iterdir() if p.is_file()] == []


def test_blocks_bypass_the_page_cache_where_the_disk_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not supports_direct(tmp_path):
        pytest.skip(f"the file system of {tmp_path} refuses O_DIRECT")
    seen: list[tuple[int, bool]] = []
    real_write = os.write

    def spy(fd: int, data: bytes | memoryview) -> int:
        seen.append((len(data), _direct(fd)))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    data = os.urandom(2 * MB + 100)
    FileBlobStore(tmp_path / "blobs").put_stream(io.BytesIO(data))
    # Whole buffers go direct; the 100-byte tail (not a whole block) buffered.
    assert seen == [(direct.BUFFER, True)] * (2 * MB // direct.BUFFER) + [(100, False)]


def _direct(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


def test_a_file_system_that_refuses_o_direct_gets_buffered_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fcntl = direct.fcntl.fcntl

    def refuse(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == direct.fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(22, "Invalid argument")  # what tmpfs answers
        return real_fcntl(fd, cmd, arg)

    monkeypatch.setattr(direct.fcntl, "fcntl", refuse)
    data = os.urandom(MB + 4097)
    store = FileBlobStore(tmp_path / "blobs")
    digest, size = store.put_stream(io.BytesIO(data))
    assert size == len(data) and store.path(digest).read_bytes() == data


def test_many_writers_at_once_share_the_buffers_without_mixing_them(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    blobs = [random.Random(n).randbytes(MB + 4096 * n + n) for n in range(24)]
    results: dict[int, tuple[str, int]] = {}

    def put(n: int) -> None:
        results[n] = store.put_stream(Dribble(blobs[n], n))  # type: ignore[arg-type]

    threads = [threading.Thread(target=put, args=(n,)) for n in range(len(blobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, data in enumerate(blobs):
        digest, size = results[n]
        assert size == len(data) and store.path(digest).read_bytes() == data
    assert len(direct._idle) <= direct.KEEP


def test_a_failed_read_leaves_no_file_and_returns_the_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Breaks(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.sent += 1
            if self.sent > 3:
                raise ConnectionResetError("the client went away")
            return b"%PDF-" + b"x" * 300_000

    monkeypatch.setattr(direct, "_idle", [])
    store = FileBlobStore(tmp_path / "blobs")
    with pytest.raises(ConnectionResetError):
        store.put_stream(Breaks())  # type: ignore[arg-type]
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
    if supports_direct(tmp_path):
        assert len(direct._idle) == 1  # the writer's buffer, back for the next
