"""Blobs: content-addressed copies of added files and fetched documents.

A job points at its blob by SHA-256, never at the user's path, so the original
may be moved or deleted once ``add`` returns. Copy and hash happen in one read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, Protocol

from ingestq.errors import BlobMissingError
from ingestq.store.direct import DirectWriter

_CHUNK = 1024 * 1024
_INCOMING = ".incoming-"  # a copy being made, renamed to its digest once whole


class BlobStore(Protocol):
    """Where blobs live, by the SHA-256 of their bytes."""

    def put_file(self, path: Path) -> tuple[str, int]:
        """Store a copy of ``path``; return its SHA-256 and size in bytes."""
        ...

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store what ``stream`` holds, read in chunks; return its SHA-256 and size."""
        ...

    def open(self, digest: str) -> BinaryIO:
        """The blob for reading; :class:`BlobMissingError` if it is not stored."""
        ...

    def local_path(self, digest: str) -> AbstractContextManager[Path]:
        """A file holding the blob, for libraries that want a path, while the context lasts."""
        ...

    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int | None:
        """Its size in bytes, or None if it is not stored."""
        ...

    def delete(self, digest: str) -> bool:
        """Delete it; False if it was not there."""
        ...

    def older_than(self, seconds: float) -> Iterator[str]:
        """Digests of blobs last stored more than ``seconds`` ago."""
        ...

    def drop_incomplete(self, seconds: float, *, dry_run: bool = False) -> int:
        """Delete what puts that died left (untouched for ``seconds``); return its bytes."""
        ...

    def close(self) -> None:
        """Let go of what the store holds (a database it opened itself)."""
        ...


def put_bytes(store: BlobStore, data: bytes) -> tuple[str, int]:
    """Store ``data`` (a downloaded document); return its SHA-256 and size."""
    return store.put_stream(BytesIO(data))


class FileBlobStore:
    """Blobs as files under a directory, fanned out by their first two hex digits."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def close(self) -> None:
        pass  # nothing held between calls

    def path(self, digest: str) -> Path:
        # Two-level fan-out keeps directories small on big corpora.
        return self.root / digest[:2] / digest

    def put_file(self, path: Path) -> tuple[str, int]:
        with path.open("rb") as src:
            return self.put_stream(src)

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=_INCOMING)
        try:
            with DirectWriter(fd) as direct:
                while block := stream.read(_CHUNK):
                    hasher.update(block)
                    direct.write(block)
                    size += len(block)
                direct.finish()
            digest = hasher.hexdigest()
            final = self.path(digest)
            if final.exists():
                os.unlink(tmp_name)
                # Fresh again: ``prune`` must not take it for an old orphan while
                # the job that names it is being committed.
                os.utime(final)
            else:
                final.parent.mkdir(exist_ok=True)
                # Atomic: a reader sees the whole blob or none of it.
                os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return digest, size

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise BlobMissingError(
                "the stored copy of the file is missing from the blob store"
            ) from None

    @contextmanager
    def local_path(self, digest: str) -> Iterator[Path]:
        path = self.path(digest)
        if not digest or not path.is_file():
            raise BlobMissingError("the stored copy of the file is missing from the blob store")
        yield path

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int | None:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, digest: str) -> bool:
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def older_than(self, seconds: float) -> Iterator[str]:
        horizon = time.time() - seconds
        if not self.root.is_dir():
            return
        for fan in self.root.iterdir():
            if not fan.is_dir():
                continue
            for path in fan.iterdir():
                try:
                    stored = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if stored < horizon:
                    yield path.name

    def drop_incomplete(self, seconds: float, *, dry_run: bool = False) -> int:
        horizon = time.time() - seconds
        freed = 0
        for path in self.root.glob(_INCOMING + "*") if self.root.is_dir() else ():
            try:
                stat = path.stat()
                if stat.st_mtime >= horizon:
                    continue  # an ``add`` may still be copying it
                if not dry_run:
                    path.unlink()
            except FileNotFoundError:
                continue
            freed += stat.st_size
        return freed
