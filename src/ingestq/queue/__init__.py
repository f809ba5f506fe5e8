"""The job queue: job ids waiting for a worker.

:func:`open_queue` returns the :class:`~ingestq.queue.base.JobQueue` that the
settings name: Huey on SQLite under the home, or Huey's ``RedisHuey``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ingestq.config import Settings
from ingestq.queue.base import ConsumerOptions, Handler, JobQueue, StorageFactory

#: Handles kept open by :func:`shared_queue`, by the queue they reach.
_shared: dict[tuple[str | None, str, str], JobQueue] = {}
_shared_lock = threading.Lock()


def _key(settings: Settings) -> tuple[str | None, str, str]:
    return settings.queue_url, settings.queue_name, str(settings.queue_db)


def open_queue(settings: Settings, sqlite_storage: StorageFactory | None = None) -> JobQueue:
    """The job queue of ``settings``: Redis at ``INGESTQ_QUEUE_URL``, else ``queue.db``
    under the home. Inside :func:`shared_queue` for the same queue, the shared handle.

    ``sqlite_storage`` makes the SQLite queue's storage class (see
    :data:`~ingestq.queue.base.StorageFactory`): one with ``enqueue_many`` writes a
    thousand messages a transaction instead of one.
    """
    with _shared_lock:
        shared = _shared.get(_key(settings))
    if shared is not None:
        return shared
    return _open(settings, sqlite_storage)


@contextmanager
def shared_queue(
    settings: Settings, sqlite_storage: StorageFactory | None = None
) -> Iterator[JobQueue]:
    """One handle on the job queue for the whole process while this lasts.

    A fresh handle on the SQLite queue opens a connection and runs Huey's schema
    statements in a transaction of their own, which syncs the disk: for a server
    that enqueues on every upload (``ingestq serve``), a second disk sync per request
    under the queue's write lock. Huey's handles are safe to share between threads.
    """
    queue = _open(settings, sqlite_storage)
    with _shared_lock:
        _shared[_key(settings)] = queue
    try:
        yield queue
    finally:
        with _shared_lock:
            _shared.pop(_key(settings), None)


def _open(settings: Settings, sqlite_storage: StorageFactory | None) -> JobQueue:
    from ingestq.masking import mask
    from ingestq.queue.huey import HueyQueue, redis_huey, sqlite_huey

    if settings.queue_url:
        return HueyQueue(redis_huey(settings), f"the job queue at {mask(settings.queue_url)}")
    where = f"the job queue ({settings.queue_db})"
    return HueyQueue(sqlite_huey(settings, sqlite_storage), where)


__all__ = ["ConsumerOptions", "Handler", "JobQueue", "open_queue", "shared_queue"]
