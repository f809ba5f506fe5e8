"""``cancel`` and ``retry``: a user steering jobs that already exist."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
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
    conn = connect(settings.state_db)
    try:
        return _apply(conn, ids, lifecycle.cancel)
    finally:
        conn.close()


def retry_jobs(
    settings: Settings, ids: Sequence[str], *, all_failed: bool = False
) -> ControlResult:
    """Put failed or cancelled jobs back in line, with fresh attempts."""
    if bool(ids) == all_failed:
        raise UsageError("name jobs to retry, or pass --failed (not both)")
    conn = connect(settings.state_db)
    try:
        if all_failed:
            ids = [j.id for j in jobs.list_jobs(conn, states=[jobs.FAILED], limit=None)]
        result = _apply(conn, ids, lifecycle.requeue)
    finally:
        conn.close()
    if result.changed:
        JobQueue(settings).enqueue(j.id for j in result.changed)
    return result


def _apply(
    conn: sqlite3.Connection, keys: Sequence[str], move: Callable[[sqlite3.Connection, str], str]
) -> ControlResult:
    """Apply a state move to each job named; collect the moved jobs and the refusals."""
    result = ControlResult()
    for key in keys:
        try:
            job = jobs.get_job(conn, key)
        except NotFoundError as exc:
            result.errors.append(str(exc))
            continue
        if problem := move(conn, job.id):
            result.errors.append(problem)
        else:
            result.changed.append(jobs.get_job(conn, job.id))
    return result
