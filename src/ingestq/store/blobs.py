"""Content-addressed copies of added files, under ``blobs/``.

A job points at its blob by SHA-256, never at the user's path, so the original
may be moved or deleted once ``add`` returns. Copy and hash happen in one read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

_CHUNK = 1024 * 1024


def blob_path(blobs_dir: Path, digest: str) -> Path:
    # Two-level fan-out keeps directories small on big corpora.
    return blobs_dir / digest[:2] / digest


def store_file(blobs_dir: Path, source: Path) -> tuple[str, int]:
    """Copy ``source`` into the store; return its SHA-256 and size in bytes."""
    blobs_dir.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=blobs_dir, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while block := src.read(_CHUNK):
                hasher.update(block)
                out.write(block)
                size += len(block)
        digest = hasher.hexdigest()
        final = blob_path(blobs_dir, digest)
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


def store_bytes(blobs_dir: Path, data: bytes) -> tuple[str, int]:
    """Store ``data`` (a downloaded document); return its SHA-256 and size."""
    digest = hashlib.sha256(data).hexdigest()
    final = blob_path(blobs_dir, digest)
    if not final.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=blobs_dir, prefix=".incoming-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp_name, final)
    return digest, len(data)
