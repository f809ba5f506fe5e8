"""Make the queue agree with the state database again.

Huey's SQLite storage is at-most-once: a message is deleted when it is
dequeued, so a worker killed mid-job loses it, and a crash between writing a
job and enqueueing it leaves a job with no message. The state database is the
truth; this module repairs the queue from it.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from ingestq.jobs import QUEUED, RETRYING
from ingestq.lifecycle import recover_orphans
from ingestq.queue import JobQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoveryReport:
    orphans: list[str]
    reenqueued: list[str]


def recover(conn: sqlite3.Connection, queue: JobQueue, owner: str) -> RecoveryReport:
    """Return lost ``processing`` jobs to the queue and re-send lost messages.

    Call only while no job of this home is executing (the worker lock makes
    that so at worker start).
    """
    orphans = recover_orphans(conn, owner)
    waiting = {
        r[0] for r in conn.execute("SELECT id FROM jobs WHERE state IN (?, ?)", (QUEUED, RETRYING))
    }
    missing = sorted(waiting - queue.pending_job_ids())
    queue.enqueue(missing)
    for job_id in orphans:
        log.warning("job %s was left processing by a dead worker; queued again", job_id)
    if missing:
        log.info("re-enqueued %d job(s) missing from the queue", len(missing))
    return RecoveryReport(orphans=orphans, reenqueued=missing)
