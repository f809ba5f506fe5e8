"""The job queue on Huey: ``queue.db`` (SQLite) under the home, or Redis.

Huey's storage deletes a task when it is dequeued, so a worker that dies
mid-task loses the message: delivery is at-most-once, and
:mod:`ingestq.state.recovery` makes up for it from the state database. On
Redis that includes a server restarted empty: the next recovery pass enqueues
every waiting job again. Delays and ``--at`` use Huey's schedule, a sorted set
on Redis that every consumer reads, so any worker runs a job when it is due.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from ingestq.config import Settings
from ingestq.errors import QueueError, UnreachableError
from ingestq.home import make_private, prepare_home
from ingestq.masking import mask, scrub
from ingestq.queue.base import ConsumerOptions, Handler
from ingestq.times import parse_time

TASK_NAME = "process_job"
#: Seconds a queue write waits for SQLite's lock, as the state database does.
BUSY_TIMEOUT_S = 30.0


def sqlite_huey(settings: Settings) -> Any:
    """Huey on ``queue.db`` under the home."""
    from huey import SqliteHuey

    prepare_home(settings)
    with _queue_errors(f"the job queue ({settings.queue_db})"):
        huey = SqliteHuey(
            "ingestq",
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
    from huey import RedisHuey
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
            for job_id in job_ids:
                if eta is None:
                    self.huey.enqueue(self._task.s(job_id))
                else:
                    self._task.schedule(args=(job_id,), eta=eta)

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
        _consumer_class()(self.huey, options).run()


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
                max_delay=options.poll_interval_s,
                backoff=1.15,
                periodic=True,
                check_worker_health=True,
                shutdown_timeout=options.shutdown_timeout_s,
            )
            self._on_stop_signal = options.on_stop_signal

        def _set_signal_handlers(self) -> None:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._handle_signal)

        def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
            self._signum, self._restart, self._graceful = signum, False, True
            # A second signal interrupts the graceful wait (KeyboardInterrupt
            # reaches Consumer.stop, which then stops at once). Armed before the
            # first is reported, so a second sent on seeing the report is one.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            self._on_stop_signal(signal.Signals(signum).name)

    return IngestqConsumer
