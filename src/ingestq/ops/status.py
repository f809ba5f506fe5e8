"""Read-only views of jobs for ``status`` (and anything else that asks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ingestq import jobs
from ingestq.config import Settings
from ingestq.db import connect
from ingestq.errors import UsageError


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
) -> list[jobs.Job]:
    """The newest jobs, optionally only those in ``states`` and updated within ``since``.

    ``since`` ("24h") looks at the last change, so a cron wrapper asking for jobs
    that failed in the last day also sees old jobs that failed today.
    """
    bad = [s for s in states if s not in jobs.STATES]
    if bad:
        raise UsageError(f"unknown state {bad[0]!r}; choose from {', '.join(jobs.STATES)}")
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    after = None
    if since:
        from datetime import UTC, datetime, timedelta

        from ingestq.db import isoformat
        from ingestq.times import parse_duration

        after = isoformat(datetime.now(UTC) - timedelta(seconds=parse_duration(since, "--since")))
    conn = connect(settings.state_db)
    try:
        return jobs.list_jobs(
            conn, states=states, limit=limit, updated_after=after, collection=collection
        )
    finally:
        conn.close()


def job_details(settings: Settings, ids: Sequence[str]) -> list[JobDetail]:
    """Each job named by id or unique prefix, with its history."""
    conn = connect(settings.state_db)
    try:
        found = [jobs.get_job(conn, i) for i in ids]
        return [JobDetail(job=j, events=jobs.events_for(conn, j.id)) for j in found]
    finally:
        conn.close()
