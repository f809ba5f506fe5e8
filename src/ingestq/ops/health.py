"""Whether the backends answer: for ``GET /readyz`` and anything else that asks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

from ingestq.config import Settings
from ingestq.errors import IngestqError, NotFoundError
from ingestq.queue import JobQueue, open_queue, shared_queue
from ingestq.state import metrics, open_state, shared_state
from ingestq.state.queue_storage import bulk_sqlite_storage
from ingestq.store import open_vector_store

#: For a long-lived server: hold one state-database handle while it runs
#: (see :func:`ingestq.state.shared_state`).
hold_state = shared_state


def hold_queue(settings: Settings) -> AbstractContextManager[JobQueue]:
    """And one job-queue handle (see :func:`ingestq.queue.shared_queue`), which
    enqueues a batch in one SQLite transaction."""
    return shared_queue(settings, bulk_sqlite_storage)


def _state(settings: Settings) -> None:
    db = open_state(settings, connections=1)
    try:
        metrics.ping(db)
    finally:
        db.close()


def _queue(settings: Settings) -> None:
    open_queue(settings).pending_job_ids()


def _vectors(settings: Settings) -> None:
    # An embedded home that has stored nothing yet is ready all the same.
    with contextlib.suppress(NotFoundError):
        open_vector_store(settings, create=False).collections()


CHECKS: dict[str, Callable[[Settings], None]] = {
    "state": _state,
    "queue": _queue,
    "vectors": _vectors,
}


def readiness(settings: Settings) -> dict[str, str | None]:
    """Each backend (state, queue, vectors) and why it cannot be used, or None if it can."""
    out: dict[str, str | None] = {}
    for name, check in CHECKS.items():
        try:
            check(settings)
            out[name] = None
        except IngestqError as exc:
            out[name] = str(exc)
        except Exception as exc:  # a client library's own error: named, not raised
            out[name] = f"{type(exc).__name__}: {exc}"[:300]
    return out
