"""What the state database knows that the queue and the store must be told again.

Huey's delivery is at-most-once: a message is deleted when it is dequeued, so a
worker killed mid-job loses it, and a crash between writing a job and
enqueueing it leaves a job with no message. The state database is the truth;
the worker repairs everything else from what this module finds (see
:meth:`ingestq.worker.worker.Worker.recover`), at start and every
``INGESTQ_RECOVERY_INTERVAL`` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    db: Database,
    live_owner: str,
    lease_s: float,
    max_attempts: int,
    report: RecoveryReport,
    *,
    exclusive: bool = True,
    dead: Sequence[str] = (),
) -> None:
    """Put back ``processing`` jobs whose worker is gone or whose lease expired.

    ``exclusive``: ``live_owner`` is the only worker there can be (an embedded
    home, under its lock), so any other owner's job is lost at once. Otherwise
    workers share the state, and an expired lease says a worker is gone, or
    its name being in ``dead`` (a process of this host that no longer runs).
    The whole pass is one transaction, and transactions run one at a time, so
    of two workers recovering together only the first finds each job: it
    alone puts it back, and the event names it.

    The lost attempt stays counted: a document that kills the worker every
    time ends ``failed`` after its last attempt instead of looping forever.
    """
    stamp = now()
    lost = "coalesce(heartbeat_at, '') < ?"
    params: tuple[str, ...] = (PROCESSING, ago(lease_s))
    if exclusive:
        lost = f"(coalesce(lease_owner, '') != ? OR {lost})"
        params = (PROCESSING, live_owner, ago(lease_s))
    elif dead:
        lost = f"(lease_owner IN ({', '.join('?' * len(dead))}) OR {lost})"
        params = (PROCESSING, *dead, ago(lease_s))
    with db.transaction():
        rows = db.fetchall(
            f"SELECT id, lease_owner, attempts FROM jobs WHERE state = ? AND {lost}", params
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
                f"lease of {row['lease_owner']} lost; recovered by {live_owner}"
                + ("; no attempt left" if spent else ""),
            )
            if spent:
                outbox.queue_for(db, row["id"])
            (report.failed if spent else report.requeued).append(row["id"])


def lease_owners(db: Database) -> list[str]:
    """The workers named by the leases of processing jobs."""
    rows = db.fetchall(
        "SELECT DISTINCT lease_owner FROM jobs WHERE state = ? AND lease_owner IS NOT NULL",
        (PROCESSING,),
    )
    return [r["lease_owner"] for r in rows]


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
