"""Make the queue and the store agree with the state database again.

Huey's SQLite storage is at-most-once: a message is deleted when it is
dequeued, so a worker killed mid-job loses it, and a crash between writing a
job and enqueueing it leaves a job with no message. The state database is the
truth; this module repairs everything else from it. The worker runs it at start
and every ``INGESTQ_RECOVERY_INTERVAL`` seconds.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingestq import callbacks
from ingestq.db import isoformat, transaction
from ingestq.jobs import CANCELLED, FAILED, PROCESSING, QUEUED, RETRYING, add_event
from ingestq.queue import JobQueue

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    requeued: list[str] = field(default_factory=list)  # lost leases put back
    failed: list[str] = field(default_factory=list)  # lost leases with no attempt left
    reenqueued: list[str] = field(default_factory=list)  # waiting jobs missing from the queue
    to_purge: list[tuple[str, str]] = field(default_factory=list)  # (job id, collection)


def recover_lost_leases(
    conn: sqlite3.Connection,
    live_owner: str,
    lease_s: float,
    max_attempts: int,
    report: RecoveryReport,
) -> None:
    """Put back ``processing`` jobs whose worker is gone or whose lease expired.

    The lost attempt stays counted: a document that kills the worker every
    time ends ``failed`` after its last attempt instead of looping forever.
    """
    now = datetime.now(UTC)
    cutoff = isoformat(now - timedelta(seconds=lease_s))
    with transaction(conn):
        rows = conn.execute(
            "SELECT id, lease_owner, attempts FROM jobs WHERE state = ?"
            " AND (coalesce(lease_owner, '') != ? OR coalesce(heartbeat_at, '') < ?)",
            (PROCESSING, live_owner, cutoff),
        ).fetchall()
        for row in rows:
            spent = row["attempts"] >= max_attempts
            error = f"the worker was lost during attempt {row['attempts']} of {max_attempts}"
            conn.execute(
                "UPDATE jobs SET state = ?, stage = NULL, progress = 0, lease_owner = NULL,"
                " error = ?, completed_at = ?, updated_at = ? WHERE id = ?",
                (
                    FAILED if spent else QUEUED,
                    error if spent else None,
                    isoformat(now) if spent else None,
                    isoformat(now),
                    row["id"],
                ),
            )
            add_event(
                conn,
                row["id"],
                "recovered",
                f"lease of {row['lease_owner']} lost" + ("; no attempt left" if spent else ""),
            )
            if spent:
                callbacks.queue_for(conn, row["id"])
            (report.failed if spent else report.requeued).append(row["id"])


def recover(
    conn: sqlite3.Connection, queue: JobQueue, owner: str, *, lease_s: float, max_attempts: int
) -> RecoveryReport:
    """Repair lost leases and lost messages; list the vectors that must go."""
    report = RecoveryReport()
    recover_lost_leases(conn, owner, lease_s, max_attempts, report)
    waiting = conn.execute(
        "SELECT id, not_before FROM jobs WHERE state IN (?, ?)", (QUEUED, RETRYING)
    ).fetchall()
    pending = queue.pending_job_ids()
    for row in waiting:
        if row["id"] not in pending:
            queue.enqueue([row["id"]], not_before=row["not_before"])
            report.reenqueued.append(row["id"])
    # Failed jobs' vectors are removed by the failing attempt, but a worker
    # killed mid-way or a job cancelled while processing leaves some behind.
    report.to_purge = [
        (r["id"], r["collection"])
        for r in conn.execute(
            "SELECT id, collection FROM jobs WHERE state IN (?, ?) AND vector_count > 0",
            (CANCELLED, FAILED),
        )
    ]
    for job_id in report.requeued:
        log.warning("job %s lost its worker; queued again", job_id)
    for job_id in report.failed:
        log.warning("job %s lost its worker on its last attempt; failed", job_id)
    if report.reenqueued:
        log.info("re-enqueued %d job(s) missing from the queue", len(report.reenqueued))
    return report
