"""``cancel`` and ``retry``: a user steering jobs that already exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ingestq.config import Settings
from ingestq.errors import NotFoundError, UsageError
from ingestq.queue import open_queue
from ingestq.state import jobs, lifecycle, open_state
from ingestq.state.db import Database
from ingestq.state.queue_storage import bulk_sqlite_storage


@dataclass
class ControlResult:
    changed: list[jobs.Job] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def cancel_jobs(
    settings: Settings, ids: Sequence[str], *, owner: str | None = None
) -> ControlResult:
    """Cancel each job: a waiting one never runs; a running one stops at its next checkpoint.

    With ``owner``, another owner's job is not found.
    """
    if not ids:
        raise UsageError("name at least one job to cancel")
    db = open_state(settings)
    try:
        return _apply(db, ids, lifecycle.cancel, owner)
    finally:
        db.close()


def retry_jobs(
    settings: Settings,
    ids: Sequence[str],
    *,
    all_failed: bool = False,
    owner: str | None = None,
) -> ControlResult:
    """Put failed or cancelled jobs back in line, with fresh attempts (``owner``'s only,
    if given)."""
    if bool(ids) == all_failed:
        raise UsageError(
            "name jobs to retry, or pass {all_failed} (not both)", params=("all_failed",)
        )
    db = open_state(settings)
    try:
        if all_failed:
            ids = jobs.ids_in_state(db, jobs.FAILED)
        result = _apply(db, ids, lifecycle.requeue, owner)
    finally:
        db.close()
    if result.changed:
        open_queue(settings, bulk_sqlite_storage).enqueue(j.id for j in result.changed)
    return result


def _apply(
    db: Database,
    keys: Sequence[str],
    move: Callable[[Database, str], str],
    owner: str | None = None,
) -> ControlResult:
    """Apply a state move to each job named; collect the moved jobs and the refusals."""
    result = ControlResult()
    for key in keys:
        try:
            job = jobs.get_job(db, key, owner=owner)
        except NotFoundError as exc:
            result.errors.append(str(exc))
            continue
        if problem := move(db, job.id):
            result.errors.append(problem)
        else:
            result.changed.append(jobs.get_job(db, job.id))
    return result
