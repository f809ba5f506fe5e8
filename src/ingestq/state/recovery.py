"""What the state database knows that the queue and the store must be told again.

Huey's delivery is at-most-once: a message is deleted when it is dequeued, so a
worker killed mid-job loses it, and a crash between writing a job and
enqueueing it leaves a job with no message. The state database is the truth;
the worker repairs everything else from what this module finds (see
:meth:`ingestq.worker.worker.Worker.recover`), at start and every
``INGESTQ_RECOVERY_INTERVAL`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingestq.state import outbox
from ingestq.state.db import Database
from ingestq.state.events import add_event
from ingestq.state.jobs import CANCELLED, FAILED, PROCESSING, QUEUED, RETRYING
from ingestq.times import ago, now


@dataclass
class RecoveryReport:
    requeued: list[str] = field(default_factory=list)  # lost leases put back
    failed: list[str] = field(default_factory=list)  # lost leases with no attempt left
    reenqueued: list[str] = field(default_factory=list)  # waiting jobs missing from the queue
    to_purge: list[tuple[str, str]] = field(default_factory=list)  # (job id, collection)


def recover_lost_leases(
    db: Database, live_owner: str, lease_s: float, max_attempts: int, report: RecoveryReport
) -> None:
    """Put back ``processing`` jobs whose worker is gone or whose lease expired.

    The lost attempt stays counted: a document that kills the worker every
    time ends ``failed`` after its last attempt instead of looping forever.
    """
    stamp = now()
    with db.transaction():
        rows = db.fetchall(
            "SELECT id, lease_owner, attempts FROM jobs WHERE state = ?"
            " AND (coalesce(lease_owner, '') != ? OR coalesce(heartbeat_at, '') < ?)",
            (PROCESSING, live_owner, ago(lease_s)),
        )
        for row in rows:
            spent = row["attempts"] >= max_attempts
            error = f"the worker was lost during attempt {row['attempts']} of {max_attempts}"
            db.execute(
                "UPDATE jobs SET state = ?, stage = NULL, progress = 0, lease_owner = NULL,"
                " error = ?, completed_at = ?, updated_at = ? WHERE id = ?",
                (
                    FAILED if spent else QUEUED,
                    error if spent else None,
                    stamp if spent else None,
                    stamp,
                    row["id"],
                ),
            )
            add_event(
                db,
                row["id"],
                "recovered",
                f"lease of {row['lease_owner']} lost" + ("; no attempt left" if spent else ""),
            )
            if spent:
                outbox.queue_for(db, row["id"])
            (report.failed if spent else report.requeued).append(row["id"])


def waiting(db: Database) -> list[tuple[str, str | None]]:
    """Every job that waits for a delivery: its id and when it is due (None: now)."""
    rows = db.fetchall("SELECT id, not_before FROM jobs WHERE state IN (?, ?)", (QUEUED, RETRYING))
    return [(r["id"], r["not_before"]) for r in rows]


def stale_vectors(db: Database) -> list[tuple[str, str]]:
    """Jobs that ended without success but may still have vectors: (id, collection).

    Failed jobs' vectors are removed by the failing attempt, but a worker killed
    mid-way or a job cancelled while processing leaves some behind.
    """
    rows = db.fetchall(
        "SELECT id, collection FROM jobs WHERE state IN (?, ?) AND vector_count > 0",
        (CANCELLED, FAILED),
    )
    return [(r["id"], r["collection"]) for r in rows]
