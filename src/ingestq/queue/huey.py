"""The job queue on Huey: ``queue.db`` (SQLite) under the home, or Redis.

Huey's storage deletes a task when it is dequeued, so a worker that dies
mid-task loses the message: delivery is at-most-once, and
:mod:`ingestq.state.recovery` makes up for it from the state database. On
Redis that includes a server restarted empty: the next recovery pass enqueues
every waiting job again. Delays and ``--at`` use Huey's schedule, a sorted set
on Redis that every consumer reads, so any worker runs a job when it is due.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from ingestq.config import Settings
from ingestq.errors import QueueError, UnreachableError
from ingestq.home import make_private, prepare_home
from ingestq.masking import mask, scrub
from ingestq.queue.base import ConsumerOptions, Handler, StorageFactory
from ingestq.times import parse_time

TASK_NAME = "process_job"
#: Seconds a queue write waits for SQLite's lock, as the state database does.
BUSY_TIMEOUT_S = 30.0
#: Messages a bulk enqueue writes in one Redis command or one SQLite transaction.
BATCH = 1000


#: Clients that ``huey.storage`` imports, if it can, the moment huey is imported.
_OPTIONAL_CLIENTS = ("redis", "psycopg")


def _import_huey(*, servers: bool) -> Any:
    """The ``huey`` package, with Redis support only when ``servers`` asks for it.

    ``huey.storage`` tries ``import redis`` and ``import psycopg`` at import
    time. Both are installed for the server backends, and together they cost
    about 0.3 s: on the SQLite path (every ``add`` of the embedded default)
    that would double the command's time. So there huey is imported with both
    hidden, and finds them missing, as it would without them installed. A
    process that later wants Redis (``migrate-home`` moves a SQLite queue onto
    Redis) gives ``huey.storage`` the client names its guarded import skipped;
    tests/test_queue_backends.py checks that this still works with the huey
    installed.
    """
    import sys

    if "huey" not in sys.modules and not servers:
        hidden = [name for name in _OPTIONAL_CLIENTS if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # "not installed"
        try:
            import huey
        finally:
            for name in hidden:
                del sys.modules[name]
    import huey
    import huey.storage

    if servers and huey.storage.Redis is None:
        import redis
        import redis.exceptions

        storage: Any = huey.storage
        storage.ConnectionPool, storage.Redis = redis.ConnectionPool, redis.Redis
        storage.ConnectionError = redis.exceptions.ConnectionError
        storage.TimeoutError = redis.exceptions.TimeoutError
        storage.RedisStorage.redis_client = redis.Redis  # bound when the class was made
    return huey


def sqlite_huey(settings: Settings, storage: StorageFactory | None = None) -> Any:
    """Huey on ``queue.db`` under the home; its storage class made by ``storage``
    from Huey's ``SqliteStorage``, if given (one with ``enqueue_many`` writes
    batches in one transaction)."""
    huey_module = _import_huey(servers=False)
    storage_class = storage(huey_module.storage.SqliteStorage) if storage else None

    prepare_home(settings)
    with _queue_errors(f"the job queue ({settings.queue_db})"):
        huey = huey_module.SqliteHuey(
            "ingestq",
            storage_class=storage_class,
            filename=str(settings.queue_db),
            results=False,
            utc=True,
            timeout=BUSY_TIMEOUT_S,
        )
    make_private(settings.queue_db)
    return huey


def redis_huey(settings: Settings) -> Any:
    """Huey's ``RedisHuey`` at ``INGESTQ_QUEUE_URL``, its keys named by ``INGESTQ_QUEUE_NAME``.

    Checked with a PING, so a wrong address or password is one clear line now
    rather than a failure at the first enqueue.
    """
    RedisHuey = _import_huey(servers=True).RedisHuey
    from redis import ConnectionPool

    assert settings.queue_url
    where = mask(settings.queue_url)
    try:
        pool = ConnectionPool.from_url(
            settings.queue_url,
            socket_connect_timeout=5,
            # Longer than the blocking read below, or every idle read would time out.
            socket_timeout=10,
            health_check_interval=30,
        )
        huey = RedisHuey(
            settings.queue_name,
            connection_pool=pool,
            results=False,
            utc=True,
            # A blocking read wakes a worker the moment a job arrives, and returns
            # within a second so a stopping worker is not held up.
            blocking=True,
            read_timeout=1,
        )
        huey.storage.conn.ping()
    except Exception as exc:  # redis-py's errors, or a malformed URL
        reason = scrub(" ".join(str(exc).split()) or type(exc).__name__, settings.queue_url)
        raise UnreachableError(f"cannot use the job queue at {where}: {reason}") from None
    return huey


@contextmanager
def _queue_errors(what: str) -> Iterator[None]:
    """Whatever the queue's storage raises, as one :class:`QueueError` naming the queue."""
    try:
        yield
    except QueueError:
        raise
    except Exception as exc:  # SQLite's, Redis's: the storage's own error types vary
        raise QueueError(f"{what} cannot be used: {exc}") from exc


class HueyQueue:
    """A :class:`~ingestq.queue.base.JobQueue` on a Huey instance.

    Messages are calls of one task, ``process_job(job_id)``, which runs the
    handler a worker gave; a process that only submits never gives one.
    """

    def __init__(self, huey: Any, name: str = "the job queue") -> None:
        self.huey = huey
        self.name = name
        self._handler: Handler | None = None
        self._task = huey.task(name=TASK_NAME)(self._process)

    def _process(self, job_id: str) -> None:
        if self._handler is None:
            raise RuntimeError("this queue handle can only enqueue")
        self._handler(job_id)

    def enqueue(self, job_ids: Iterable[str], not_before: str | None = None) -> None:
        eta = _future(not_before)
        with _queue_errors(self.name):
            if eta is None:
                self._enqueue_now([self._task.s(job_id) for job_id in job_ids])
                return
            for job_id in job_ids:
                self._task.schedule(args=(job_id,), eta=eta)

    def _enqueue_now(self, tasks: list[Any]) -> None:
        """Enqueue ``tasks``: a thousand to a Redis command or SQLite transaction.

        The messages are exactly those Huey's own ``enqueue`` writes, in the same
        order, serialized by Huey. On SQLite, Huey's own ``enqueue`` commits and syncs
        each message (2-4 ms here); a storage with ``enqueue_many`` (the state
        layer's, which keeps the SQL: see :func:`sqlite_huey`) syncs once a batch.
        Any other storage goes through Huey message by message.
        """
        from huey.storage import RedisStorage

        storage = self.huey.storage

        def lpush(data: list[bytes]) -> None:
            storage.conn.lpush(storage.queue_key, *data)

        bulk = getattr(storage, "enqueue_many", None)
        if isinstance(storage, RedisStorage) and type(storage).enqueue is RedisStorage.enqueue:
            bulk = lpush
        if bulk is None or not tasks:
            for task in tasks:
                self.huey.enqueue(task)
            return
        data = [self.huey.serialize_task(task) for task in tasks]
        for start in range(0, len(data), BATCH):
            bulk(data[start : start + BATCH])

    def pending_job_ids(self) -> set[str]:
        with _queue_errors(self.name):
            messages: list[Any] = [*self.huey.pending(), *self.huey.scheduled()]
        return {m.args[0] for m in messages if m.name == TASK_NAME and m.args}

    def run_next(self, handler: Handler, prepare: Callable[[], None] | None = None) -> bool:
        self._handler = handler
        with _queue_errors(self.name):
            # Scheduled tasks whose time has come join the queue first, as the
            # consumer's scheduler would move them.
            for task in self.huey.read_schedule():
                self.huey.enqueue(task)
            task = self.huey.dequeue()
        if task is None:
            return False
        if prepare is not None:
            try:
                prepare()
            except BaseException:
                with _queue_errors(self.name):
                    self.huey.enqueue(task)
                raise
        self.huey.execute(task)  # the handler never raises
        return True

    def consume(self, handler: Handler, options: ConsumerOptions) -> None:
        self._handler = handler
        self.huey.on_startup()(options.on_start)
        quiet = _OncePerMinute(self.name)
        # A logger's filter sees only its own records, not its children's: name
        # every logger huey's consumer writes to.
        for name in _HUEY_LOGGERS:
            logging.getLogger(name).addFilter(quiet)
        try:
            _consumer_class()(self.huey, options).run()
        finally:
            for name in _HUEY_LOGGERS:
                logging.getLogger(name).removeFilter(quiet)


_HUEY_LOGGERS = ("huey", "huey.consumer", "huey.consumer.Worker", "huey.consumer.Scheduler")


class _OncePerMinute(logging.Filter):
    """Huey's consumer logs a traceback at every failed read (several a second while
    Redis is down): keep one line a minute, and say when the queue answers again."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.queue = name
        self.last = -math.inf

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not _is_connection_error(record.exc_info[1]):
            return True
        if time.monotonic() - self.last < 60:
            return False
        self.last = time.monotonic()
        record.msg = "%s is unreachable: %s; retrying (said at most once a minute)"
        record.args = (self.queue, record.exc_info[1])
        record.exc_info = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _is_connection_error(exc: BaseException | None) -> bool:
    """Whether a failed queue read is the server's state, not a bug of ours: any
    Redis error (a restart shows as refused connections, then as a half-read
    reply or LOADING), or the network's."""
    import sys

    redis_errors = sys.modules.get("redis.exceptions")
    if redis_errors is not None and isinstance(exc, redis_errors.RedisError):
        return True
    return isinstance(exc, OSError)


def _future(iso: str | None) -> datetime | None:
    if not iso:
        return None
    when = parse_time(iso)
    return when if when > datetime.now(UTC) else None


def _consumer_class() -> Any:
    # Built on first use: huey.consumer is only needed by a running worker.
    from huey.consumer import Consumer

    class IngestqConsumer(Consumer):  # type: ignore[misc]
        """Huey's consumer with ingestq's shutdown: both signals are graceful."""

        def __init__(self, huey: Any, options: ConsumerOptions) -> None:
            super().__init__(
                huey,
                workers=options.workers,
                worker_type="thread",
                initial_delay=min(0.1, options.poll_interval_s),
                # A blocking read (Redis) waits for jobs itself; the delay only
                # paces retries while the queue is unreachable: back off further.
                max_delay=max(options.poll_interval_s, 5.0)
                if huey.storage.blocking
                else options.poll_interval_s,
                backoff=1.15,
                periodic=True,
                check_worker_health=True,
                shutdown_timeout=options.shutdown_timeout_s,
            )
            self._on_stop_signal = options.on_stop_signal
            self._on_halt = options.on_halt

        def _set_signal_handlers(self) -> None:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._handle_signal)

        def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
            self._signum, self._restart, self._graceful = signum, False, True
            # A second signal interrupts the graceful wait (KeyboardInterrupt
            # reaches Consumer.stop, which then stops at once). Armed before the
            # first is reported, so a second sent on seeing the report is one.
            signal.signal(signal.SIGINT, self._handle_second_signal)
            signal.signal(signal.SIGTERM, self._handle_second_signal)
            self._on_stop_signal(signal.Signals(signum).name)

        def _handle_second_signal(self, signum: int, frame: FrameType | None) -> None:
            # Jobs in flight must stop too, not run on while the process closes.
            self._on_halt()
            raise KeyboardInterrupt

    return IngestqConsumer
