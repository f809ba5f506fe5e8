"""Read-only views of jobs for ``status`` (and anything else that asks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ingestq.config import Settings
from ingestq.errors import UsageError
from ingestq.state import events, jobs, open_state
from ingestq.times import ago, parse_duration


@dataclass
class JobDetail:
    job: jobs.Job
    events: list[dict[str, Any]]


def recent_jobs(
    settings: Settings,
    *,
    states: Sequence[str] = (),
    limit: int | None = 20,
    since: str | None = None,
    collection: str | None = None,
    owner: str | None = None,
    before: tuple[str, str] | None = None,
) -> list[jobs.Job]:
    """The newest jobs, optionally only those in ``states`` and updated within ``since``.

    ``since`` ("24h") looks at the last change, so a cron wrapper asking for jobs
    that failed in the last day also sees old jobs that failed today. ``owner``
    keeps one owner's jobs; ``before`` pages on (see :func:`jobs.list_jobs`).
    """
    bad = [s for s in states if s not in jobs.STATES]
    if bad:
        raise UsageError(f"unknown state {bad[0]!r}; choose from {', '.join(jobs.STATES)}")
    if limit is not None and limit < 1:
        raise UsageError("{limit} must be at least 1", params=("limit",))
    after = ago(parse_duration(since, "since")) if since else None
    db = open_state(settings)
    try:
        return jobs.list_jobs(
            db,
            states=states,
            limit=limit,
            updated_after=after,
            collection=collection,
            owner=owner,
            before=before,
        )
    finally:
        db.close()


def job_details(
    settings: Settings, ids: Sequence[str], *, owner: str | None = None
) -> list[JobDetail]:
    """Each job named by id or unique prefix (of ``owner``'s, if given), with its history."""
    db = open_state(settings)
    try:
        found = [jobs.get_job(db, i, owner=owner) for i in ids]
        return [JobDetail(job=j, events=events.events_for(db, j.id)) for j in found]
    finally:
        db.close()


def jobs_by_id(
    settings: Settings, ids: Sequence[str], *, owner: str | None = None
) -> list[jobs.Job]:
    """Each job named by id or unique prefix (of ``owner``'s, if given), as it is now."""
    db = open_state(settings)
    try:
        return [jobs.get_job(db, i, owner=owner) for i in ids]
    finally:
        db.close()
