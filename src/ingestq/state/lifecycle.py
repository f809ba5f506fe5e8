"""State moves of a job: claim, progress, finish, retry, hand back, cancel, recover.

A worker owns a job through its lease: ``lease_owner`` names the worker and
``heartbeat_at`` says it is alive. Every write after the claim is conditional on
the lease, so a worker that lost its job (cancelled, or recovered after its
lease expired) can never overwrite the job's newer state.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ingestq import callbacks, sources
from ingestq.db import isoformat, transaction, utcnow
from ingestq.jobs import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PROCESSING,
    QUEUED,
    RETRYING,
    Job,
    add_event,
)

if TYPE_CHECKING:
    from ingestq.pipeline import Outcome

_OWNED = "id = ? AND lease_owner = ? AND state = 'processing'"


def claim(conn: sqlite3.Connection, job_id: str, owner: str) -> Job | None:
    """Take ``job_id`` for ``owner`` if it is waiting and due; None if it is not ours to run.

    A delivery of a job that is completed, cancelled, already processing or not
    yet due is a stale or duplicate delivery, and is skipped by returning None.
    """
    now = utcnow()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET state = ?, stage = 'parsing', progress = 0, error = NULL,"
            " attempts = attempts + 1, lease_owner = ?, heartbeat_at = ?, started_at = ?,"
            " completed_at = NULL, not_before = NULL, updated_at = ?"
            " WHERE id = ? AND state IN (?, ?) AND coalesce(not_before, '') <= ?",
            (PROCESSING, owner, now, now, now, job_id, QUEUED, RETRYING, now),
        )
        if cur.rowcount == 0:
            return None
        add_event(conn, job_id, "claimed", f"by {owner}")
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return Job.from_row(row)


def report(
    conn: sqlite3.Connection,
    job: Job,
    owner: str,
    *,
    stage: str,
    progress: float,
    vector_count: int,
    pages: int | None = None,
    note_stage: bool = False,
) -> bool:
    """Record progress and renew the lease. False if the job is no longer ours.

    ``note_stage`` also records the stage in the job's history; callers set it
    the first time an attempt enters a stage, so stages that alternate per
    batch do not flood the history.
    """
    now = utcnow()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET stage = ?, progress = ?, vector_count = ?,"
            f" pages = coalesce(?, pages), heartbeat_at = ?, updated_at = ? WHERE {_OWNED}",
            (stage, round(progress, 1), vector_count, pages, now, now, job.id, owner),
        )
        owned = cur.rowcount > 0
        if owned and note_stage:
            add_event(conn, job.id, "stage", stage)
    return owned


def heartbeat(conn: sqlite3.Connection, job_id: str, owner: str) -> bool:
    """Renew the lease only. False if the job is no longer ours."""
    cur = conn.execute(
        f"UPDATE jobs SET heartbeat_at = ? WHERE {_OWNED}", (utcnow(), job_id, owner)
    )
    return cur.rowcount > 0


def state_of(conn: sqlite3.Connection, job_id: str) -> str | None:
    row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return str(row[0]) if row else None


def complete(conn: sqlite3.Connection, job: Job, owner: str, outcome: Outcome) -> bool:
    """Mark the attempt done and its source current; False if the job stopped being ours.

    An unchanged outcome leaves the source pointing at the job whose chunks it keeps.
    """
    now = utcnow()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET state = ?, stage = NULL, progress = 100, vector_count = ?,"
            " pages = coalesce(?, pages), content_hash = coalesce(?, content_hash),"
            " size_bytes = coalesce(?, size_bytes), title = ?, final_url = ?, unchanged = ?,"
            " reused = ?, embedded = ?, topics = coalesce(?, topics),"
            f" completed_at = ?, updated_at = ?, lease_owner = NULL WHERE {_OWNED}",
            (
                COMPLETED,
                outcome.vectors,
                outcome.pages,
                outcome.content_hash,
                outcome.size_bytes,
                outcome.title,
                outcome.final_url,
                int(outcome.unchanged),
                outcome.reused,
                outcome.vectors - outcome.reused,
                json.dumps(outcome.topics) if outcome.topics is not None else None,
                now,
                now,
                job.id,
                owner,
            ),
        )
        if not cur.rowcount:
            return False
        for event, message in outcome.notes:
            add_event(conn, job.id, event, message)
        add_event(conn, job.id, "completed", _summary(outcome), {"timings": outcome.timings})
        callbacks.queue_for(conn, job.id)
        _update_source(conn, job, outcome)
    return True


def _update_source(conn: sqlite3.Connection, job: Job, outcome: Outcome) -> None:
    """Point the job's source at what it now holds (call inside the completing transaction)."""
    if outcome.removed:
        sources.forget(conn, job.collection, "pdf", job.source)
        conn.execute(
            "UPDATE jobs SET vector_count = 0 WHERE collection = ? AND source = ? AND state = ?",
            (job.collection, job.source, COMPLETED),
        )
    elif not outcome.unchanged:
        sources.record(
            conn,
            sources.Source(
                job.collection,
                job.kind,
                job.source,
                outcome.content_hash or job.content_hash,
                job.id,
                outcome.etag,
                outcome.last_modified,
            ),
        )


def _summary(outcome: Outcome) -> str:
    if outcome.unchanged:
        return "unchanged: nothing to embed"
    if outcome.reused:
        return (
            f"{outcome.vectors} vectors: {outcome.vectors - outcome.reused} embedded,"
            f" {outcome.reused} reused"
        )
    return f"{outcome.vectors} vectors"


def fail(conn: sqlite3.Connection, job: Job, owner: str, error: str) -> None:
    now = utcnow()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET state = ?, error = ?, vector_count = 0, completed_at = ?,"
            f" updated_at = ?, lease_owner = NULL WHERE {_OWNED}",
            (FAILED, error, now, now, job.id, owner),
        )
        if cur.rowcount:
            add_event(conn, job.id, "failed", error, {"attempts": job.attempts})
            callbacks.queue_for(conn, job.id)


def schedule_retry(
    conn: sqlite3.Connection, job: Job, owner: str, error: str, delay_s: float
) -> str | None:
    """Put the job in ``retrying`` until ``delay_s`` from now; return when it is due."""
    now = datetime.now(UTC)
    due = isoformat(now + timedelta(seconds=delay_s))
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET state = ?, error = ?, stage = NULL, progress = 0,"
            " vector_count = 0, not_before = ?, updated_at = ?, lease_owner = NULL"
            f" WHERE {_OWNED}",
            (RETRYING, error, due, isoformat(now), job.id, owner),
        )
        if not cur.rowcount:
            return None
        add_event(
            conn,
            job.id,
            "retry_scheduled",
            f"in {delay_s:.1f} s after: {error}",
            {"attempt": job.attempts, "delay_s": round(delay_s, 3), "due": due},
        )
    return due


def hand_back(conn: sqlite3.Connection, job: Job, owner: str, reason: str) -> bool:
    """Return a job we started but will not finish to ``queued``.

    A hand-back on shutdown is not the job's fault, so its attempt is not counted.
    """
    now = utcnow()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET state = ?, stage = NULL, progress = 0, vector_count = 0,"
            " attempts = max(attempts - 1, 0), lease_owner = NULL, heartbeat_at = NULL,"
            f" started_at = NULL, updated_at = ? WHERE {_OWNED}",
            (QUEUED, now, job.id, owner),
        )
        if cur.rowcount:
            add_event(conn, job.id, "handed_back", reason)
    return cur.rowcount > 0


def supersede(conn: sqlite3.Connection, job: Job) -> list[str]:
    """Mark older completed jobs of the same document as replaced by ``job``.

    The same document is the same source: a file's path, a page's URL. Their
    vectors are gone (the caller deleted them), so their counts go to 0.
    """
    with transaction(conn):
        rows = conn.execute(
            "SELECT id FROM jobs WHERE collection = ? AND kind = ? AND source = ?"
            " AND state = ? AND id != ? AND vector_count > 0",
            (job.collection, job.kind, job.source, COMPLETED, job.id),
        ).fetchall()
        for row in rows:
            conn.execute(
                "UPDATE jobs SET vector_count = 0, updated_at = ? WHERE id = ?",
                (utcnow(), row["id"]),
            )
            add_event(conn, row["id"], "superseded", f"re-ingested as {job.id}")
    return [r["id"] for r in rows]


def vectors_removed(conn: sqlite3.Connection, job_id: str) -> None:
    """Record that a cancelled job's vectors are gone from the store."""
    with transaction(conn):
        conn.execute(
            "UPDATE jobs SET vector_count = 0, updated_at = ? WHERE id = ?", (utcnow(), job_id)
        )
        add_event(conn, job_id, "vectors_removed", "after cancel")


def cancel(conn: sqlite3.Connection, job_id: str) -> str:
    """Cancel one job; return "" or why it cannot be cancelled.

    A waiting job simply never runs. A processing job is marked at once; its
    worker notices at the next checkpoint and removes what it wrote (the
    job's ``vector_count`` stays until then, so recovery knows what to clean).
    """
    now = utcnow()
    with transaction(conn):
        row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row["state"] not in (QUEUED, RETRYING, PROCESSING):
            return f"{job_id} is {row['state']}; only queued, retrying or processing jobs cancel"
        conn.execute(
            "UPDATE jobs SET state = ?, stage = NULL, not_before = NULL, completed_at = ?,"
            " updated_at = ?, lease_owner = NULL WHERE id = ?",
            (CANCELLED, now, now, job_id),
        )
        add_event(conn, job_id, "cancelled", f"was {row['state']}")
    return ""


def requeue(conn: sqlite3.Connection, job_id: str) -> str:
    """Put a failed or cancelled job back in line with fresh attempts; "" or why not."""
    now = utcnow()
    with transaction(conn):
        row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row["state"] not in (FAILED, CANCELLED):
            return f"{job_id} is {row['state']}; only failed or cancelled jobs can be retried"
        conn.execute(
            "UPDATE jobs SET state = ?, attempts = 0, error = NULL, stage = NULL, progress = 0,"
            " not_before = NULL, started_at = NULL, completed_at = NULL, updated_at = ?"
            " WHERE id = ?",
            (QUEUED, now, job_id),
        )
        add_event(conn, job_id, "requeued", f"was {row['state']}")
    return ""
