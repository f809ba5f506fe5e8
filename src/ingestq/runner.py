"""One claimed job, from start to a final (or handed-back) state.

This is the single place where a job's exceptions are turned into states:
success completes the job, a :class:`JobError` fails it with its one-line
message, an interruption hands it back, and anything unexpected is logged with
its traceback while the job gets a short message. Nothing escapes to Huey.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ingestq import lifecycle
from ingestq.errors import IngestqError, JobError, JobInterrupted
from ingestq.jobs import Job
from ingestq.pipeline import Checkpoint, Context, ingest

if TYPE_CHECKING:
    from ingestq.worker import Worker

log = logging.getLogger(__name__)


def run_claimed(worker: Worker, job: Job) -> None:
    started = time.monotonic()

    def report(stage: str, progress: float, vectors: int, pages: int | None, first: bool) -> bool:
        return lifecycle.report(
            worker.conn,
            job,
            worker.owner,
            stage=stage,
            progress=progress,
            vector_count=vectors,
            pages=pages,
            note_stage=first,
        )

    check = Checkpoint(
        report=report, timeout_s=worker.settings.job_timeout_s, stop_at=worker.stop_deadline
    )
    try:
        ctx = Context(worker.settings, worker.embedder, worker.store, worker.fetcher)
        outcome = ingest(job, ctx, check)
    except JobInterrupted as exc:
        _discard_vectors(worker, job)
        worker.hand_back(job, str(exc))
        log.info("job %s handed back: %s", job.id, exc)
    except JobError as exc:
        _discard_vectors(worker, job)
        message = str(exc) if not exc.transient else f"{exc} (transient)"
        lifecycle.fail(worker.conn, job, worker.owner, message)
        log.warning("job %s failed: %s", job.id, message)
    except IngestqError as exc:
        # Not about the document but about the setup (say, a collection built
        # with another model): no retry of this job can fix it.
        _discard_vectors(worker, job)
        lifecycle.fail(worker.conn, job, worker.owner, str(exc))
        log.warning("job %s failed: %s", job.id, exc)
    except Exception as exc:
        # A bug, not bad input: the traceback is for the log, not the job.
        log.exception("job %s crashed", job.id)
        _discard_vectors(worker, job)
        lifecycle.fail(
            worker.conn, job, worker.owner, f"internal error: {type(exc).__name__}: {exc}"[:300]
        )
    else:
        lifecycle.complete(worker.conn, job, worker.owner, outcome)
        _replace_older_copies(worker, job)
        log.info(
            "job %s completed: %d vectors in %.1f s",
            job.id,
            outcome.vectors,
            time.monotonic() - started,
        )


def _discard_vectors(worker: Worker, job: Job) -> None:
    """Remove a failed attempt's partial chunks so search never sees half a document."""
    try:
        coll = worker.store.collection(
            job.collection, worker.embedder.name, worker.embedder.dimension
        )
        worker.store.delete_where(coll, {"job_id": job.id})
    except Exception:
        # The next attempt deletes them first anyway; log and move on.
        log.exception("could not remove partial vectors of job %s", job.id)


def _replace_older_copies(worker: Worker, job: Job) -> None:
    """After a forced re-ingest, drop the previous copy so search sees the content once."""
    coll = worker.store.collection(job.collection, worker.embedder.name, worker.embedder.dimension)
    same = {"source": job.source} if job.kind == "url" else {"content_hash": job.content_hash or ""}
    older = {"$and": [same, {"job_id": {"$ne": job.id}}]}
    worker.store.delete_where(coll, older)
    lifecycle.supersede(worker.conn, job)
