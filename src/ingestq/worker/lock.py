"""One worker per home: an exclusive lock on ``worker.lock`` for the worker's whole life.

Chroma's local store is not safe with two writer processes (they corrupt its
HNSW index silently), so a worker holds the lock while it runs. The lock also
makes recovery simple: at start, anything still ``processing`` belongs to a
worker that is gone. This module is light, so ``add --wait`` can ask whether a
worker runs without importing the worker.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from ingestq.config import Settings
from ingestq.errors import WorkerRunningError
from ingestq.home import make_private, prepare_home


@contextmanager
def worker_lock(settings: Settings) -> Iterator[None]:
    """Hold the home's worker lock, or raise :class:`WorkerRunningError`."""
    prepare_home(settings)
    fh: IO[str] = open(settings.worker_lock, "a+")  # noqa: SIM115 - held for the context
    make_private(settings.worker_lock)
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "unknown"
            raise WorkerRunningError(
                f"a worker is already running on {settings.home} (pid {pid})"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the flock; the kernel does it too if we die


def worker_running(settings: Settings) -> bool:
    """Whether a worker holds this home's lock right now."""
    if not settings.worker_lock.exists():
        return False
    with open(settings.worker_lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False  # closing releases the lock we just took
