"""The job queue's interface: a delivery mechanism for job ids, nothing more.

Delivery is at-most-once: a message taken by a worker that dies is gone. That
is why messages carry only a job id and the state database stays the source of
truth: recovery re-enqueues any waiting job the queue no longer holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

#: Makes the SQLite queue's storage class from Huey's ``SqliteStorage`` (given, not
#: imported, so huey is imported the queue's way); the caller's layer owns it, as
#: :func:`ingestq.state.queue_storage.bulk_sqlite_storage`, whose SQL the queue keeps none of.
StorageFactory = Callable[[type[Any]], type[Any]]

#: Runs one delivery of a job id. It must not raise: one job cannot sink the worker.
Handler = Callable[[str], None]


@dataclass(frozen=True)
class ConsumerOptions:
    """How a long-running worker consumes the queue."""

    workers: int  # jobs run at once, one thread each
    poll_interval_s: float  # the longest wait between looks at an idle queue
    shutdown_timeout_s: float  # how long a graceful stop waits for jobs in flight
    on_start: Callable[[], None]  # runs once per consumer thread, before its first job
    on_stop_signal: Callable[
        [str], None
    ]  # the first SIGINT or SIGTERM (its name): stop taking jobs
    on_halt: Callable[[], None]  # the second: stop at once


class JobQueue(Protocol):
    """Job ids waiting for a worker, now or from a given time."""

    def enqueue(self, job_ids: Iterable[str], not_before: str | None = None) -> None:
        """Deliver ``job_ids`` now, or not before the ISO 8601 UTC time given."""
        ...

    def pending_job_ids(self) -> set[str]:
        """Job ids the queue will still deliver, now or on a schedule."""
        ...

    def run_next(self, handler: Handler, prepare: Callable[[], None] | None = None) -> bool:
        """Run the next due delivery with ``handler``; False if none is due.

        ``prepare`` runs once a delivery is in hand, before the handler; if it
        raises, the delivery goes back on the queue and the error propagates.
        """
        ...

    def consume(self, handler: Handler, options: ConsumerOptions) -> None:
        """Run deliveries as they come due until a signal stops the consumer."""
        ...
