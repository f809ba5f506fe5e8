"""A look at the job queue that changes nothing: for ``ingestq doctor``.

Redis is pinged with a short timeout (the queue's own client waits longer,
as a worker should), then asked its version and how many messages wait.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ingestq.config import Settings
from ingestq.errors import QueueError, UnreachableError
from ingestq.masking import mask, scrub
from ingestq.queue.huey import _import_huey


@dataclass
class QueueProbe:
    """What the queue said."""

    where: str  # a path, or the URL with its password masked (and the queue's name)
    exists: bool  # False: an embedded home whose queue was never made
    server_version: str
    latency_ms: float
    pending: int  # messages waiting, now or on a schedule


def probe(settings: Settings, timeout_s: float) -> QueueProbe:
    """Ping the queue of ``settings`` and count what waits in it."""
    if settings.queue_url:
        return _redis(settings, settings.queue_url, timeout_s)
    path = settings.queue_db
    found = QueueProbe(str(path), path.exists(), "Huey on SQLite", 0.0, 0)
    if found.exists:
        SqliteHuey = _import_huey(servers=False).SqliteHuey

        started = time.perf_counter()
        try:
            huey = SqliteHuey("ingestq", filename=str(path), results=False, timeout=timeout_s)
            found.pending = int(huey.pending_count()) + int(huey.scheduled_count())
        except Exception as exc:  # sqlite3's errors, through Huey
            raise QueueError(f"the job queue ({path}) cannot be read: {exc}") from None
        found.latency_ms = (time.perf_counter() - started) * 1000
    return found


def _redis(settings: Settings, url: str, timeout_s: float) -> QueueProbe:
    # Through the queue's own import: a process that has opened a SQLite queue
    # has a huey that found no redis, and must be given it.
    RedisHuey = _import_huey(servers=True).RedisHuey
    from redis import ConnectionPool, Redis

    try:
        pool = ConnectionPool.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
    except ValueError as exc:  # a URL redis-py cannot read
        raise _unreachable(url, exc) from None
    try:
        client = Redis(connection_pool=pool)
        started = time.perf_counter()
        client.ping()
        latency = (time.perf_counter() - started) * 1000
        version = str(client.info("server").get("redis_version", "?"))
        huey = RedisHuey(settings.queue_name, connection_pool=pool, results=False)
        pending = int(huey.pending_count()) + int(huey.scheduled_count())
    except Exception as exc:  # redis-py's errors
        raise _unreachable(url, exc) from None
    finally:
        pool.disconnect()
    where = f"{mask(url)}#{settings.queue_name}"
    return QueueProbe(where, True, f"Redis {version}", latency, pending)


def _unreachable(url: str, exc: BaseException) -> UnreachableError:
    reason = scrub(" ".join(str(exc).split()) or type(exc).__name__, url)[:300]
    return UnreachableError(f"cannot reach the job queue at {mask(url)}: {reason}")
