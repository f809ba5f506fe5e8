"""One worker per embedded home: an exclusive lock on ``worker.lock`` for the worker's life.

Chroma's local store is not safe with two writer processes (they corrupt its
HNSW index silently), and an embedded state makes recovery simple only if one
worker owns it: at start, anything still ``processing`` belongs to a worker
that is gone. So a worker on an embedded home holds the lock while it runs.
With the state and the vectors on servers there is nothing local to guard, and
any number of workers share one home (see :mod:`ingestq.worker.fleet`).

The lock file holds ``host:pid`` and is touched while the worker runs: a flock
is not seen across hosts on a network drive, so a worker that finds another
host's recent mark refuses to share the home. This module is light, so ``add
--wait`` can ask whether a worker runs without importing the worker.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO

from ingestq.config import Settings
from ingestq.errors import ConfigError, WorkerRunningError
from ingestq.home import make_private, prepare_home


def needs_lock(settings: Settings) -> bool:
    """Whether this home holds something only one worker may write: state or vectors."""
    return not (settings.shared_state and settings.chroma_url)


@contextmanager
def worker_lock(settings: Settings) -> Iterator[None]:
    """Hold the home's worker lock if it needs one, or raise :class:`WorkerRunningError`."""
    if not needs_lock(settings):
        yield
        return
    prepare_home(settings)
    fh: IO[str] = open(settings.worker_lock, "a+")  # noqa: SIM115 - held for the context
    make_private(settings.worker_lock)
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            host, _, pid = fh.read().strip().rpartition(":")
            raise WorkerRunningError(
                f"a worker is already running on {settings.home}"
                f" (pid {pid or 'unknown'}{f' on {host}' if host else ''})"
            ) from None
        _refuse_other_host(fh, settings)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{socket.gethostname()}:{os.getpid()}")
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the flock; the kernel does it too if we die


def _refuse_other_host(fh: IO[str], settings: Settings) -> None:
    """Several hosts on one embedded home would each think they own it: refuse."""
    fh.seek(0)
    host = fh.read().strip().rpartition(":")[0]
    recent = time.time() - os.stat(fh.fileno()).st_mtime < settings.lease_s
    if host and host != socket.gethostname() and recent:
        raise ConfigError(
            f"a worker on host {host} used this home ({settings.home}) within the last"
            f" {settings.lease_s:g} s: several hosts cannot share an embedded home; put the"
            " state, queue and vectors on servers (INGESTQ_DATABASE_URL, INGESTQ_QUEUE_URL,"
            " INGESTQ_CHROMA_URL)"
        )


def touch_lock(settings: Settings) -> None:
    """Mark the home as in use now (a running worker calls this every few seconds)."""
    if needs_lock(settings):
        with suppress(FileNotFoundError):
            os.utime(settings.worker_lock)


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
