"""Blobs in the state database, so every host that shares it reads every blob.

With the state on PostgreSQL, a file added on one host must be readable by a
worker on another, so its copy goes where the jobs go: into the database, in
parts of about 1 MB (see :mod:`ingestq.state.blobdata`). Bytes stream through
in parts both ways; no blob is ever whole in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ingestq.errors import BlobMissingError
from ingestq.ids import new_id
from ingestq.state import blobdata
from ingestq.state.db import Database
from ingestq.times import ago

#: Bytes per part: big enough that a 100 MB file is a hundred rows, small enough
#: that one part in flight costs nothing.
PART_SIZE = 1024 * 1024

_MISSING = "the stored copy of the file is missing from the blob store"


class PgBlobStore:
    """A :class:`~ingestq.store.blobs.BlobStore` in the state database.

    It uses the :class:`~ingestq.state.db.Database` it is given, and closes it
    only if ``owns_db`` (when :func:`~ingestq.store.open_blob_store` opened it).
    """

    def __init__(
        self,
        db: Database,
        *,
        owns_db: bool = False,
        part_size: int = PART_SIZE,
        where: str = "the state database",
    ) -> None:
        self.db = db
        self.part_size = part_size
        self.where = where  # for messages: the database, its password masked
        self._owns_db = owns_db

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    # -- writing ----------------------------------------------------------------
    def put_file(self, path: Path) -> tuple[str, int]:
        # A file can be read twice: hash it first, and a file stored before (a
        # directory synced again) costs one read and one statement, not an upload.
        with path.open("rb") as src:
            hasher = hashlib.sha256()
            while block := src.read(self.part_size):
                hasher.update(block)
            if blobdata.touch(self.db, hasher.hexdigest()):
                return hasher.hexdigest(), src.tell()
            src.seek(0)
            return self.put_stream(src)

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        upload = new_id()
        hasher = hashlib.sha256()
        size = parts = 0
        try:
            for part in _parts(stream, self.part_size):
                hasher.update(part)
                blobdata.write_part(self.db, upload, parts, part)
                size += len(part)
                parts += 1
            digest = hasher.hexdigest()
            blobdata.finish(self.db, digest, size, parts, self.part_size, upload)
        except BaseException:
            # If the database is gone too, prune sweeps the parts later.
            with contextlib.suppress(Exception):
                blobdata.discard(self.db, upload)
            raise
        return digest, size

    # -- reading ----------------------------------------------------------------
    def open(self, digest: str) -> BinaryIO:
        row = blobdata.find(self.db, digest) if digest else None
        if row is None:
            raise BlobMissingError(_MISSING)
        return io.BufferedReader(_PartReader(self.db, row), buffer_size=64 * 1024)

    @contextmanager
    def local_path(self, digest: str) -> Iterator[Path]:
        # Libraries that want a path get a private temporary copy, spooled part by part.
        with self.open(digest) as src:
            fd, name = tempfile.mkstemp(prefix="ingestq-blob-")
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, self.part_size)
                yield Path(name)
            finally:
                Path(name).unlink(missing_ok=True)

    def exists(self, digest: str) -> bool:
        return blobdata.find(self.db, digest) is not None

    def size(self, digest: str) -> int | None:
        row = blobdata.find(self.db, digest)
        return row.size if row else None

    # -- removing ---------------------------------------------------------------
    def delete(self, digest: str) -> bool:
        return blobdata.delete(self.db, digest)

    def older_than(self, seconds: float) -> Iterator[str]:
        return iter(blobdata.stored_before(self.db, ago(seconds)))

    def drop_incomplete(self, seconds: float, *, dry_run: bool = False) -> int:
        lost = blobdata.lost_uploads(self.db, ago(seconds))
        if not dry_run:
            for upload in lost:
                blobdata.discard(self.db, upload)
        return sum(lost.values())


def _parts(stream: BinaryIO, part_size: int) -> Iterator[bytes]:
    """``stream`` cut in parts of ``part_size`` bytes (the last may be shorter).

    No read asks for more than a part, whatever the stream returns at a time.
    """
    while True:
        part = stream.read(part_size)
        if not part:
            return
        if len(part) < part_size:  # a socket or a pipe: fill the part up
            pieces = bytearray(part)
            while len(pieces) < part_size and (more := stream.read(part_size - len(pieces))):
                pieces += more
            part = bytes(pieces)
        yield part
        if len(part) < part_size:
            return


class _PartReader(io.RawIOBase):
    """A stored blob as a seekable raw stream that fetches one part at a time."""

    def __init__(self, db: Database, row: blobdata.BlobRow) -> None:
        super().__init__()
        self._db = db
        self._row = row
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None  # the last part fetched

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._cached = None
        super().close()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._row.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._pos >= self._row.size:
            return 0
        n, offset = divmod(self._pos, self._row.part_size)
        part = self._part(n)
        view = memoryview(buffer).cast("B")
        got = part[offset : offset + len(view)]
        view[: len(got)] = got
        self._pos += len(got)
        return len(got)

    def _part(self, n: int) -> bytes:
        if self._cached is not None and self._cached[0] == n:
            return self._cached[1]
        data = blobdata.read_part(self._db, self._row.upload, n)
        row = self._row
        expected = min(row.part_size, row.size - n * row.part_size)
        if data is None or len(data) != expected:
            # Deleted (pruned, removed) while it was being read.
            raise BlobMissingError(_MISSING)
        self._cached = (n, data)
        return data
