"""The recovery pass a worker makes at its start and every ``recovery_interval_s``.

The state database is the truth and the queue delivers at most once, so this
is what makes jobs never lost: leases of workers that died go back to the queue
(or fail, on their last attempt), jobs waiting in the state but missing from the
queue are delivered again, and vectors of cancelled or abandoned attempts are
removed.
"""

from __future__ import annotations

import logging

from ingestq.state import lifecycle, recovery, workers
from ingestq.worker import fleet
from ingestq.worker.runner import RunContext, remove_chunks

log = logging.getLogger(__name__)

#: Seconds after which a silent worker's row is forgotten.
GONE_AFTER_S = 24 * 3600.0


def recover(worker: RunContext) -> recovery.RecoveryReport:
    """Repair lost leases and messages, and remove vectors nobody should see.

    Workers sharing the state take turns: the one holding the recovery
    lease does the pass, the others skip it.
    """
    report = recovery.RecoveryReport()
    shared = worker.settings.shared_state
    hold = 2 * worker.settings.recovery_interval_s
    dead: list[str] = []
    if shared:
        # Workers of this host that were killed need not wait out their leases.
        named = recovery.lease_owners(worker.db) + workers.lease_holders(worker.db)
        dead = fleet.dead_here(sorted(set(named)))
        if not workers.take_lease(worker.db, "recovery", worker.owner, hold, dead):
            return report
    recovery.recover_lost_leases(
        worker.db,
        worker.owner,
        worker.settings.lease_s,
        worker.settings.max_retries + 1,
        report,
        exclusive=not shared,
        dead=dead,
    )
    pending = worker.queue.pending_job_ids()
    for job_id, due in recovery.waiting(worker.db):
        if job_id not in pending:
            worker.queue.enqueue([job_id], not_before=due)
            report.reenqueued.append(job_id)
    report.to_purge = recovery.stale_vectors(worker.db)
    if shared:
        # Rows of killed workers: kept a day, for `doctor` to show what went.
        workers.forget_gone(worker.db, GONE_AFTER_S)
    _log_recovery(report)
    for job_id, collection in report.to_purge:
        try:
            remove_chunks(worker, job_id, collection)
            lifecycle.vectors_removed(worker.db, job_id)
        except Exception:
            log.exception("could not remove the vectors of job %s", job_id)
    return report


def _log_recovery(report: recovery.RecoveryReport) -> None:
    for job_id in report.requeued:
        log.warning("job %s lost its worker; queued again", job_id)
    for job_id in report.failed:
        log.warning("job %s lost its worker on its last attempt; failed", job_id)
    if report.reenqueued:
        log.info("re-enqueued %d job(s) missing from the queue", len(report.reenqueued))
