"""State moves of a job inside the worker: claim, progress, finish, hand back.

A worker owns a job through its lease: ``lease_owner`` names the worker and
``heartbeat_at`` says it is alive. Every write after the claim is conditional on
the lease, so a worker that lost its job (recovered by another start) can never
overwrite the job's newer state.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from ingestq.db import transaction, utcnow
from ingestq.jobs import (
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


def claim(conn: sqlite3.Connection, job_id: str, owner: str) -> Job | None:
    """Take ``job_id`` for ``owner`` if it is waiting; None if it is not ours to run.

    A delivery of a job that is completed, cancelled or already processing is
    a duplicate delivery, and is skipped by returning None.
    """
    now = utcnow()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET state = ?, stage = 'parsing', progress = 0, error = NULL,"
            " attempts = attempts + 1, lease_owner = ?, heartbeat_at = ?, started_at = ?,"
            " completed_at = NULL, updated_at = ? WHERE id = ? AND state IN (?, ?)",
            (PROCESSING, owner, now, now, now, job_id, QUEUED, RETRYING),
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
            " pages = coalesce(?, pages), heartbeat_at = ?, updated_at = ?"
            " WHERE id = ? AND lease_owner = ? AND state = ?",
            (stage, round(progress, 1), vector_count, pages, now, now, job.id, owner, PROCESSING),
        )
        owned = cur.rowcount > 0
        if owned and note_stage:
            add_event(conn, job.id, "stage", stage)
    return owned


def complete(conn: sqlite3.Connection, job: Job, owner: str, outcome: Outcome) -> None:
    now = utcnow()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET state = ?, stage = NULL, progress = 100, vector_count = ?,"
            " pages = coalesce(?, pages), content_hash = coalesce(?, content_hash),"
            " size_bytes = coalesce(?, size_bytes), title = ?, final_url = ?,"
            " completed_at = ?, updated_at = ?, lease_owner = NULL"
            " WHERE id = ? AND lease_owner = ? AND state = ?",
            (
                COMPLETED,
                outcome.vectors,
                outcome.pages,
                outcome.content_hash,
                outcome.size_bytes,
                outcome.title,
                outcome.final_url,
                now,
                now,
                job.id,
                owner,
                PROCESSING,
            ),
        )
        if cur.rowcount:
            add_event(conn, job.id, "completed", f"{outcome.vectors} vectors")


def supersede(conn: sqlite3.Connection, job: Job) -> list[str]:
    """Mark older completed jobs of the same document as replaced by ``job``.

    The same document is the same content for a file, the same URL for a page.
    Their vectors are gone (the caller deleted them), so their counts go to 0.
    """
    key, value = ("source", job.source) if job.kind == "url" else ("content_hash", job.content_hash)
    with transaction(conn):
        rows = conn.execute(
            f"SELECT id FROM jobs WHERE collection = ? AND kind = ? AND {key} = ?"
            " AND state = ? AND id != ? AND vector_count > 0",
            (job.collection, job.kind, value, COMPLETED, job.id),
        ).fetchall()
        for row in rows:
            conn.execute(
                "UPDATE jobs SET vector_count = 0, updated_at = ? WHERE id = ?",
                (utcnow(), row["id"]),
            )
            add_event(conn, row["id"], "superseded", f"re-ingested as {job.id}")
    return [r["id"] for r in rows]


def fail(conn: sqlite3.Connection, job: Job, owner: str, error: str) -> None:
    now = utcnow()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET state = ?, error = ?, vector_count = 0, completed_at = ?,"
            " updated_at = ?, lease_owner = NULL WHERE id = ? AND lease_owner = ? AND state = ?",
            (FAILED, error, now, now, job.id, owner, PROCESSING),
        )
        if cur.rowcount:
            add_event(conn, job.id, "failed", error)


def hand_back(conn: sqlite3.Connection, job: Job, owner: str, reason: str) -> None:
    """Return a job we started but will not finish to ``queued``.

    A hand-back on shutdown is not the job's fault, so its attempt is not counted.
    """
    now = utcnow()
    with transaction(conn):
        cur = conn.execute(
            "UPDATE jobs SET state = ?, stage = NULL, progress = 0, vector_count = 0,"
            " attempts = max(attempts - 1, 0), lease_owner = NULL, heartbeat_at = NULL,"
            " started_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = ?",
            (QUEUED, now, job.id, owner, PROCESSING),
        )
        if cur.rowcount:
            add_event(conn, job.id, "handed_back", reason)


def recover_orphans(conn: sqlite3.Connection, live_owner: str) -> list[str]:
    """Put back every ``processing`` job not owned by ``live_owner``.

    Only one worker runs per home (see :mod:`ingestq.worker`), so at its start a
    job in ``processing`` under any other owner was left by a worker that died.
    The lost attempt stays counted: a document that kills the worker every time
    must end ``failed``, not loop forever.
    """
    now = utcnow()
    with transaction(conn):
        rows = conn.execute(
            "SELECT id, lease_owner FROM jobs WHERE state = ? AND coalesce(lease_owner, '') != ?",
            (PROCESSING, live_owner),
        ).fetchall()
        for row in rows:
            conn.execute(
                "UPDATE jobs SET state = ?, stage = NULL, progress = 0, vector_count = 0,"
                " lease_owner = NULL, updated_at = ? WHERE id = ?",
                (QUEUED, now, row["id"]),
            )
            add_event(conn, row["id"], "recovered", f"lease of {row['lease_owner']} lost")
    return [r["id"] for r in rows]
