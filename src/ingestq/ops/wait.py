"""``--wait`` with no worker running: run the submitted jobs in this process.

One cron line (``ingestq add /data/inbox --wait``) then does the whole job. A
worker that starts meanwhile takes over; this process then only follows.
"""

from __future__ import annotations

from ingestq.config import Settings
from ingestq.errors import WorkerRunningError
from ingestq.ops.watch import Filter, snapshot
from ingestq.state import open_state, workers
from ingestq.worker.lock import worker_running


def run_here(settings: Settings, flt: Filter) -> bool:
    """Run jobs here until none that ``flt`` watches is active; False if a worker runs them."""
    if worker_running(settings):
        return False
    db = open_state(settings)
    if settings.shared_state and workers.alive(db, settings.lease_s):
        db.close()
        return False  # workers elsewhere share this state: they run them
    # Imported here: the worker brings the pipeline, and following needs none of it.
    from ingestq.worker.worker import run_until

    try:
        run_until(settings, lambda: not snapshot(db, flt).active())
    except WorkerRunningError:
        return False  # a worker started meanwhile: it runs them
    finally:
        db.close()
    return True
