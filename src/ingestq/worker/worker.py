"""The worker: one per home, running jobs from the queue until told to stop.

It holds the home's worker lock (:mod:`ingestq.worker.lock`) for its whole
life, repairs what a lost worker left behind (at start and then periodically),
sends due callbacks, and runs each delivery through
:func:`ingestq.worker.runner.run_claimed`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from ingestq.config import Settings
from ingestq.embed.base import Embedder
from ingestq.errors import Interrupted, UsageError
from ingestq.ids import new_id
from ingestq.pipeline.chunks import ChunkIndex
from ingestq.pipeline.resources import Resources
from ingestq.queue import ConsumerOptions, JobQueue, open_queue
from ingestq.state import lifecycle, open_state, outbox, recovery
from ingestq.state.db import Database
from ingestq.state.jobs import Job, get_job
from ingestq.worker.callbacks import deliver_due
from ingestq.worker.lock import worker_lock
from ingestq.worker.runner import remove_chunks, run_claimed

log = logging.getLogger(__name__)

#: Seconds between a running worker's looks at the callback outbox.
CALLBACK_POLL_S = 1.0


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 1
    burst: bool = False


class Worker:
    """Runs jobs: owns the model, the stores and the shutdown state."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.db: Database = open_state(settings)
        self.queue: JobQueue = open_queue(settings)
        self.resources = Resources(settings, embedder)
        self._stop_at: float | None = None
        self._ready = False  # loaded, and the lexical index checked against the store
        # A burst records the jobs it claims, to report them; a long-running
        # worker does not, or the list would grow for as long as it runs.
        self.ran: list[str] | None = None

    def close(self) -> None:
        self.resources.close()
        self.db.close()

    # -- shutdown --------------------------------------------------------------
    def request_stop(self, why: str = "asked to stop") -> None:
        """Finish the job in flight within the grace period, then stop."""
        if self._stop_at is None:
            grace = self.settings.shutdown_grace_s
            self._stop_at = time.monotonic() + grace  # before it is said: a second signal is one
            log.info("%s: finishing the job in flight (grace %g s)", why, grace)

    @property
    def stopping(self) -> bool:
        return self._stop_at is not None

    def stop_deadline(self) -> float | None:
        return self._stop_at

    # -- one job ---------------------------------------------------------------
    def execute(self, job_id: str) -> None:
        """Run one delivery of ``job_id``. Never raises: one job cannot sink the worker."""
        try:
            job = lifecycle.claim(self.db, job_id, self.owner)
        except Exception:
            log.exception("could not claim job %s; recovery will deliver it again", job_id)
            return
        if job is None:
            log.info("job %s is not waiting; skipping this delivery", job_id)
            return
        if self.ran is not None:
            self.ran.append(job.id)
        try:
            run_claimed(self, job)
        except Exception:
            # Only the bookkeeping after a job can land here (say, the state
            # database is unwritable). Recovery at the next start repairs it.
            log.exception("could not record the outcome of job %s", job_id)

    # -- repair ----------------------------------------------------------------
    def recover(self) -> recovery.RecoveryReport:
        """Repair lost leases and messages, and remove vectors nobody should see."""
        report = recovery.RecoveryReport()
        recovery.recover_lost_leases(
            self.db,
            self.owner,
            self.settings.lease_s,
            self.settings.max_retries + 1,
            report,
        )
        pending = self.queue.pending_job_ids()
        for job_id, due in recovery.waiting(self.db):
            if job_id not in pending:
                self.queue.enqueue([job_id], not_before=due)
                report.reenqueued.append(job_id)
        report.to_purge = recovery.stale_vectors(self.db)
        _log_recovery(report)
        for job_id, collection in report.to_purge:
            try:
                remove_chunks(self, job_id, collection)
                lifecycle.vectors_removed(self.db, job_id)
            except Exception:
                log.exception("could not remove the vectors of job %s", job_id)
        return report

    def deliver_callbacks(self) -> None:
        """Send the callbacks that are due (see :mod:`ingestq.worker.callbacks`)."""
        try:
            if outbox.pending_count(self.db):  # don't make a fetcher for nothing
                deliver_due(self.db, self.resources.fetcher, self.settings.signing_key)
        except Exception:
            log.exception("callback delivery failed; the outbox keeps them for later")

    def _every(self, seconds: float, work: Callable[[], object], what: str) -> threading.Event:
        """Run ``work`` every ``seconds`` in a thread until the returned event is set."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(seconds):
                try:
                    work()
                except Exception:
                    # A busy database now is no reason to stop trying later.
                    log.exception("%s failed", what)

        threading.Thread(target=loop, name=f"ingestq-{what}", daemon=True).start()
        return stop

    # -- the loop --------------------------------------------------------------
    def run(self, options: WorkerOptions) -> int:
        """Recover, then run jobs until stopped (or, with ``burst``, until none is due)."""
        self.recover()
        if options.burst:
            return self._run_burst()
        self.get_ready()
        return self._run_consumer(options.concurrency)

    def get_ready(self) -> None:
        """Load the model, the store and a parser, and mend the lexical index, once."""
        self.resources.load()
        if not self._ready:
            repaired = ChunkIndex(self.resources.store, self.db).repair()
            if repaired:
                log.info("lexical index: %d chunk(s) brought in line with the store", repaired)
            self._ready = True

    def _run_burst(self) -> int:
        handled = 0
        self.ran = []
        with _signals(self):
            # Loaded at the first due job, not at start: a nightly burst over an
            # unchanged corpus finds nothing due and never loads the model. Not
            # inside the job either, or its timings would include the load.
            while not self.stopping and self.queue.run_next(self.execute, self.get_ready):
                handled += 1
        # First attempts now; a retry still waiting is sent by the next worker.
        self.deliver_callbacks()
        return handled

    def _run_consumer(self, concurrency: int) -> int:
        stops = [
            self._every(self.settings.recovery_interval_s, self.recover, "recovery"),
            self._every(CALLBACK_POLL_S, self.deliver_callbacks, "callbacks"),
        ]
        log.info(
            "ready: %d job(s) at a time, polling every %g s",
            concurrency,
            self.settings.poll_interval_s,
        )
        options = ConsumerOptions(
            workers=concurrency,
            poll_interval_s=self.settings.poll_interval_s,
            shutdown_timeout_s=self.settings.shutdown_grace_s + 5,
            on_start=self.resources.load,
            on_stop_signal=lambda name: self.request_stop(f"received {name}"),
        )
        try:
            self.queue.consume(self.execute, options)
        finally:
            for stop in stops:
                stop.set()
        return 0


def _log_recovery(report: recovery.RecoveryReport) -> None:
    for job_id in report.requeued:
        log.warning("job %s lost its worker; queued again", job_id)
    for job_id in report.failed:
        log.warning("job %s lost its worker on its last attempt; failed", job_id)
    if report.reenqueued:
        log.info("re-enqueued %d job(s) missing from the queue", len(report.reenqueued))


@contextmanager
def _signals(worker: Worker) -> Iterator[None]:
    """SIGINT/SIGTERM: stop gracefully; a second one: stop now."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if worker.stopping:
            raise Interrupted("stopped at once on a second signal")
        worker.request_stop(f"received {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_until(settings: Settings, done: Callable[[], bool]) -> None:
    """Work bursts in this process until ``done()``: ``--wait`` with no worker running.

    One :class:`Worker` for all the bursts, so the model loads at most once,
    and a job retrying later is run when its time comes.
    """
    with worker_lock(settings):
        worker = Worker(settings)
        try:
            while True:
                worker.run(WorkerOptions(burst=True))
                if done() or worker.stopping:
                    return
                time.sleep(settings.poll_interval_s)
        finally:
            worker.close()


@dataclass
class WorkerRun:
    """What a worker did before it stopped: the jobs it ran, as they ended up."""

    deliveries: int
    jobs: list[Job]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for job in self.jobs:
            out[job.state] = out.get(job.state, 0) + 1
        return out


def run_worker(settings: Settings, options: WorkerOptions) -> WorkerRun:
    """Take the home's worker lock and run until stopped (or, in a burst, drained)."""
    if options.concurrency < 1:
        raise UsageError("{concurrency} must be at least 1", params=("concurrency",))
    with worker_lock(settings):
        worker = Worker(settings)
        try:
            deliveries = worker.run(options)
            ran = list(dict.fromkeys(worker.ran or []))  # a retried job ran twice: report it once
            return WorkerRun(deliveries, [get_job(worker.db, job_id) for job_id in ran])
        finally:
            worker.close()
