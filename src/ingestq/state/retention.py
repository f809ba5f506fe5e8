"""Deleting what is no longer needed: old history, removed jobs, and which blobs stay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ingestq.state import versions
from ingestq.state.db import Database
from ingestq.state.jobs import TERMINAL_STATES, Job

#: Rows a statement names at most: SQLite allows 999 variables in old builds.
_BATCH = 500


@dataclass
class History:
    """Old finished jobs, what their blobs are, and which blobs must stay."""

    old: dict[str, str | None] = field(default_factory=dict)  # job id -> content hash
    needed: set[str] = field(default_factory=set)  # digests a live job or a version needs
    jobs: int = 0  # old jobs that had events
    events: int = 0


def prune_history(db: Database, cutoff: str, *, dry_run: bool) -> History:
    """Delete (unless ``dry_run``) the events of jobs that finished before ``cutoff``.

    Says which blobs of theirs are still needed: a live or recent job's content,
    and every current version's.
    """
    marks = ",".join("?" * len(TERMINAL_STATES))
    ended = "coalesce(completed_at, updated_at, queued_at)"
    history = History()
    with db.transaction():
        rows = db.fetchall(
            f"SELECT id, content_hash FROM jobs WHERE state IN ({marks}) AND {ended} < ?",
            (*TERMINAL_STATES, cutoff),
        )
        history.old = {r["id"]: r["content_hash"] for r in rows}
        rows = db.fetchall(
            "SELECT content_hash FROM jobs WHERE content_hash IS NOT NULL"
            f" AND (state NOT IN ({marks}) OR {ended} >= ?)"
            " UNION SELECT content_hash FROM sources WHERE content_hash IS NOT NULL"
            " UNION SELECT j.content_hash FROM sources s JOIN jobs j ON j.id = s.job_id"
            " WHERE j.content_hash IS NOT NULL",
            (*TERMINAL_STATES, cutoff),
        )
        history.needed = {r["content_hash"] for r in rows}
        ids = list(history.old)
        for start in range(0, len(ids), _BATCH):
            part = ids[start : start + _BATCH]
            in_part = f"job_id IN ({','.join('?' * len(part))})"
            row = db.fetchone(
                f"SELECT count(DISTINCT job_id) AS jobs, count(*) AS n FROM events WHERE {in_part}",
                part,
            )
            history.jobs += int(row["jobs"]) if row else 0
            history.events += int(row["n"]) if row else 0
            if not dry_run:
                db.execute(f"DELETE FROM events WHERE {in_part}", part)
    return history


def known_digests(db: Database) -> set[str]:
    """Every content hash a job names."""
    rows = db.fetchall("SELECT DISTINCT content_hash FROM jobs WHERE content_hash IS NOT NULL")
    return {r["content_hash"] for r in rows}


def delete_jobs(db: Database, jobs: Sequence[Job]) -> None:
    """Delete jobs with their history and callbacks, in one transaction.

    A document whose current version a deleted job holds is forgotten too.
    """
    with db.transaction():
        for job in jobs:
            current = versions.current(db, job.collection, job.kind, job.source)
            if current is not None and current.job_id == job.id:
                versions.forget(db, job.collection, job.kind, job.source)
            db.execute("DELETE FROM events WHERE job_id = ?", (job.id,))
            db.execute("DELETE FROM callbacks WHERE job_id = ?", (job.id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job.id,))


def digest_in_use(db: Database, digest: str) -> bool:
    """Whether any job or current version still names ``digest``."""
    row = db.fetchone(
        "SELECT 1 AS used FROM jobs WHERE content_hash = ?"
        " UNION SELECT 1 FROM sources WHERE content_hash = ? LIMIT 1",
        (digest, digest),
    )
    return row is not None
