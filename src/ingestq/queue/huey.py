"""The Huey queue: a delivery mechanism for job ids, nothing more.

Huey's SQLite storage deletes a task when it is dequeued, so a worker that dies
mid-task loses the message. That is why messages carry only a job id and the
state database stays the source of truth: :mod:`ingestq.recovery` re-enqueues
any waiting job the queue no longer holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from ingestq.config import Settings
from ingestq.db import BUSY_TIMEOUT_S, parse_time

TASK_NAME = "process_job"


class JobQueue:
    """A handle on the queue database of one home.

    ``handler`` runs a job by id; only the worker passes one. Submitting
    processes leave it out and only enqueue.
    """

    def __init__(self, settings: Settings, handler: Callable[[str], None] | None = None) -> None:
        from huey import SqliteHuey

        settings.home.mkdir(parents=True, exist_ok=True)
        self.huey = SqliteHuey(
            "ingestq",
            filename=str(settings.queue_db),
            results=False,
            utc=True,
            timeout=BUSY_TIMEOUT_S,
        )

        def process_job(job_id: str) -> None:
            if handler is None:
                raise RuntimeError("this queue handle can only enqueue")
            handler(job_id)

        self._task = self.huey.task(name=TASK_NAME)(process_job)

    def enqueue(self, job_ids: Iterable[str], not_before: str | None = None) -> None:
        """Deliver ``job_ids`` now, or not before the ISO 8601 UTC time given."""
        eta = _future(not_before)
        for job_id in job_ids:
            if eta is None:
                self.huey.enqueue(self._task.s(job_id))
            else:
                self._task.schedule(args=(job_id,), eta=eta)

    def pending_job_ids(self) -> set[str]:
        """Job ids the queue will still deliver, now or on a schedule."""
        messages: list[Any] = [*self.huey.pending(), *self.huey.scheduled()]
        return {m.args[0] for m in messages if m.name == TASK_NAME and m.args}


def _future(iso: str | None) -> datetime | None:
    if not iso:
        return None
    when = parse_time(iso)
    return when if when > datetime.now(UTC) else None
