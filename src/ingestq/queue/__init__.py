"""The job queue: job ids waiting for a worker.

:func:`open_queue` returns the :class:`~ingestq.queue.base.JobQueue` that the
settings name: Huey on SQLite under the home, or Huey's ``RedisHuey``.
"""

from __future__ import annotations

from ingestq.config import Settings
from ingestq.queue.base import ConsumerOptions, Handler, JobQueue


def open_queue(settings: Settings) -> JobQueue:
    """The job queue of ``settings``: Redis at ``INGESTQ_QUEUE_URL``, else ``queue.db``
    under the home."""
    from ingestq.masking import mask
    from ingestq.queue.huey import HueyQueue, redis_huey, sqlite_huey

    if settings.queue_url:
        return HueyQueue(redis_huey(settings), f"the job queue at {mask(settings.queue_url)}")
    return HueyQueue(sqlite_huey(settings), f"the job queue ({settings.queue_db})")


__all__ = ["ConsumerOptions", "Handler", "JobQueue", "open_queue"]
