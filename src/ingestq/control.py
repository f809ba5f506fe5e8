"""``cancel`` and ``retry``: a user steering jobs that already exist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ingestq import jobs, lifecycle
from ingestq.config import Settings
from ingestq.db import connect
from ingestq.errors import NotFoundError, UsageError
from ingestq.queue import JobQueue


@dataclass
class ControlResult:
    changed: list[jobs.Job] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def cancel_jobs(settings: Settings, ids: Sequence[str]) -> ControlResult:
    """Cancel each job: a waiting one never runs; a running one stops at its next checkpoint."""
    if not ids:
        raise UsageError("name at least one job to cancel")
    result = ControlResult()
    conn = connect(settings.state_db)
    try:
        for key in ids:
            try:
                job = jobs.get_job(conn, key)
            except NotFoundError as exc:
                result.errors.append(str(exc))
                continue
            if problem := lifecycle.cancel(conn, job.id):
                result.errors.append(problem)
            else:
                result.changed.append(jobs.get_job(conn, job.id))
    finally:
        conn.close()
    return result


def retry_jobs(
    settings: Settings, ids: Sequence[str], *, all_failed: bool = False
) -> ControlResult:
    """Put failed or cancelled jobs back in line, with fresh attempts."""
    if bool(ids) == all_failed:
        raise UsageError("name jobs to retry, or pass --failed (not both)")
    result = ControlResult()
    conn = connect(settings.state_db)
    try:
        targets = (
            [j.id for j in jobs.list_jobs(conn, states=[jobs.FAILED], limit=None)]
            if all_failed
            else ids
        )
        for key in targets:
            try:
                job = jobs.get_job(conn, key)
            except NotFoundError as exc:
                result.errors.append(str(exc))
                continue
            if problem := lifecycle.requeue(conn, job.id):
                result.errors.append(problem)
            else:
                result.changed.append(jobs.get_job(conn, job.id))
    finally:
        conn.close()
    if result.changed:
        JobQueue(settings).enqueue(j.id for j in result.changed)
    return result
