"""One claimed job, from start to its next state.

This is the single place where a job's exceptions become states: success
completes it; a transient failure (or a bug) schedules a retry with backoff
until the retries run out; a permanent failure fails it with its one-line
message; a shutdown hands it back; a cancel removes what it wrote. Tracebacks go
to the worker log, never into the job. Nothing escapes to the queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from ingestq.backoff import next_delay
from ingestq.config import Settings
from ingestq.embed.batcher import job_scope
from ingestq.errors import (
    ConfigError,
    IngestqError,
    JobCancelled,
    JobError,
    JobHalted,
    JobInterrupted,
    StateError,
)
from ingestq.pipeline.attempt import ingest
from ingestq.pipeline.checkpoint import Checkpoint
from ingestq.pipeline.chunks import ChunkIndex
from ingestq.pipeline.context import Context
from ingestq.pipeline.resources import Resources
from ingestq.queue.base import JobQueue
from ingestq.state import lifecycle, versions
from ingestq.state.db import Database
from ingestq.state.jobs import CANCELLED, Job, state_of
from ingestq.worker.fleet import is_unreachable

log = logging.getLogger(__name__)


class RunContext(Protocol):
    """What running a job needs of the worker that claimed it."""

    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def queue(self) -> JobQueue: ...
    @property
    def owner(self) -> str: ...
    @property
    def resources(self) -> Resources: ...
    def stop_deadline(self) -> float | None: ...
    @property
    def halted(self) -> bool: ...


def run_claimed(worker: RunContext, job: Job) -> None:
    """Run the attempt of a job ``worker`` has just claimed, and record how it ended.

    Raises only a :class:`~ingestq.errors.ConfigError` the attempt revealed (the
    job is handed back first): the worker, not the job, has to stop over it.
    """
    started = time.monotonic()
    check = Checkpoint(
        report=_reporter(worker, job),
        timeout_s=worker.settings.job_timeout_s,
        stop_at=worker.stop_deadline,
        halted=lambda: worker.halted,
    )
    ctx = Context(worker.settings, worker.resources, worker.db)
    ctx.previous = versions.current(worker.db, job.collection, job.kind, job.source)
    try:
        # The job's texts share the worker's embedding batches; its stop check
        # rides along, so a cancelled job's queued texts leave at once.
        with _heartbeat(worker, job, check), job_scope(job.id, check.stop):
            outcome = ingest(job, ctx, check)
            outcome.timings = check.finish()
    except Exception as exc:
        _settle_failure(worker, job, exc)
        return
    if lifecycle.complete(worker.db, job, worker.owner, outcome):
        if not (outcome.unchanged or outcome.removed):
            _replace_older_copies(worker, job)
        log.info(
            "job %s completed: %d vectors in %.1f s",
            job.id,
            outcome.vectors,
            time.monotonic() - started,
        )
    else:  # cancelled after its last checkpoint
        _discard(worker, job, cancelled=True)


def remove_chunks(worker: RunContext, job_id: str, collection: str) -> None:
    """Delete every chunk ``job_id`` wrote, vectors and text."""
    ChunkIndex(worker.resources.store, worker.db).delete_job(collection, job_id)


def _reporter(worker: RunContext, job: Job) -> Callable[[str, float, int, int | None, bool], bool]:
    def report(stage: str, progress: float, vectors: int, pages: int | None, first: bool) -> bool:
        owned = lifecycle.report(
            worker.db,
            job,
            worker.owner,
            stage=stage,
            progress=progress,
            vector_count=vectors,
            pages=pages,
            note_stage=first,
        )
        if not owned and state_of(worker.db, job.id) == CANCELLED:
            raise JobCancelled("cancelled")
        return owned

    return report


def _settle_failure(worker: RunContext, job: Job, exc: Exception) -> None:
    """Turn an attempt's exception into the job's next state."""
    if isinstance(exc, JobCancelled):
        _discard(worker, job, cancelled=True)
        log.info("job %s cancelled while processing; its vectors are removed", job.id)
    elif isinstance(exc, JobHalted):
        log.info("job %s left as it is for recovery: %s", job.id, exc)
    elif isinstance(exc, JobInterrupted):
        _discard(worker, job)
        if lifecycle.hand_back(worker.db, job, worker.owner, str(exc)):
            worker.queue.enqueue([job.id])
        log.info("job %s handed back: %s", job.id, exc)
    elif is_unreachable(exc):
        _hand_back_when_reachable(worker, job, exc)
    elif isinstance(exc, ConfigError):
        # This worker is set up wrong (its model is not the collection's, the
        # server refuses its token): not the document's fault, and a worker set
        # up right can do the job. Hand it back; the worker stops, saying why,
        # and only then delivers it again, or its own next thread would take it.
        _hand_back_when_reachable(worker, job, exc, deliver=False)
        raise exc
    elif isinstance(exc, JobError):
        _failed(
            worker,
            job,
            str(exc),
            retry_after=getattr(exc, "retry_after", None),
            transient=exc.transient,
        )
    elif isinstance(exc, StateError):
        # "database is locked" and friends pass, and are not the document's
        # fault: the job deserves another go.
        _failed(worker, job, f"{exc} (transient)", transient=True)
    elif isinstance(exc, IngestqError):
        # Not about the document but the setup (a collection built with another
        # model): no retry of this job can fix it.
        _failed(worker, job, str(exc), transient=False)
    else:
        # A bug, not bad input: the traceback is for the log, the retry for the job.
        log.error("job %s crashed", job.id, exc_info=exc)
        _failed(worker, job, f"internal error: {type(exc).__name__}: {exc}"[:300], transient=True)


def _hand_back_when_reachable(
    worker: RunContext, job: Job, exc: Exception, *, deliver: bool = True
) -> None:
    """A server this worker needs went out of reach mid-job: not the document's fault.

    The job goes back to ``queued`` with its attempt uncounted, as on shutdown,
    as soon as the state database answers again (within a lease). If it never
    does, the lease expires and whichever worker recovers first puts it back.
    """
    log.warning("job %s: %s; handing it back", job.id, exc)
    _discard(worker, job)
    deadline = time.monotonic() + worker.settings.lease_s
    delay = 0.5
    while True:
        try:
            handed = lifecycle.hand_back(worker.db, job, worker.owner, f"handed back: {exc}")
            if handed and deliver:
                worker.queue.enqueue([job.id])
            return
        except Exception as again:
            if not is_unreachable(again) or time.monotonic() + delay > deadline:
                log.warning("job %s: could not hand it back (%s); recovery will", job.id, again)
                return
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _failed(
    worker: RunContext, job: Job, error: str, *, transient: bool, retry_after: float | None = None
) -> None:
    _discard(worker, job)
    settings = worker.settings
    delay = (
        next_delay(job.attempts, settings.max_retries, settings.retry_backoff_s, retry_after)
        if transient
        else None
    )
    if delay is None:
        lifecycle.fail(worker.db, job, worker.owner, error)
        log.warning("job %s failed after %d attempt(s): %s", job.id, job.attempts, error)
        return
    due = lifecycle.schedule_retry(worker.db, job, worker.owner, error, delay)
    if due is not None:
        worker.queue.enqueue([job.id], not_before=due)
        log.info(
            "job %s: attempt %d failed (%s); retrying in %.1f s", job.id, job.attempts, error, delay
        )


@contextmanager
def _heartbeat(worker: RunContext, job: Job, check: Checkpoint) -> Iterator[None]:
    """Renew the lease every few seconds, even while one step (a download) takes long.

    A renewal that finds the job no longer ours (cancelled, or recovered by
    another worker) abandons the attempt: a fetch or a parse waiting on the
    network or a parser stops within a fraction of a second.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(worker.settings.heartbeat_s):
                if not lifecycle.heartbeat(worker.db, job.id, worker.owner):
                    if state_of(worker.db, job.id) == CANCELLED:
                        check.abandon(JobCancelled, "cancelled")
                    else:
                        check.abandon(JobInterrupted, "the job is no longer leased to this worker")
                    return
        except IngestqError:
            log.exception("heartbeat of job %s stopped", job.id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{job.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _discard(worker: RunContext, job: Job, cancelled: bool = False) -> None:
    """Remove an attempt's vectors so search never sees half a document."""
    try:
        remove_chunks(worker, job.id, job.collection)
        if cancelled:
            lifecycle.vectors_removed(worker.db, job.id)
    except Exception:
        # The next attempt (or recovery, for a cancel) deletes them anyway.
        log.exception("could not remove the vectors of job %s", job.id)


def _replace_older_copies(worker: RunContext, job: Job) -> None:
    """After a re-ingest, drop the previous copy so search sees the document once."""
    try:
        chunks = ChunkIndex(worker.resources.store, worker.db)
        chunks.delete_document(job.collection, job.source, keep_job=job.id)
        lifecycle.supersede(worker.db, job)
    except Exception:
        # The new copy is complete and correct; a leftover old copy is a
        # duplicate in search, not a failure of this job.
        log.exception("could not remove older copies replaced by job %s", job.id)
