"""The worker: one per home, running jobs from the queue until told to stop.

Chroma's local store is not safe with two writer processes (they corrupt its
HNSW index silently), so a worker takes an exclusive lock on ``worker.lock``
for its whole life. The lock also makes recovery simple: at start, anything
still ``processing`` belongs to a worker that is gone.
"""

from __future__ import annotations

import fcntl
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
from typing import IO, Any

from ingestq import lifecycle
from ingestq.config import Settings
from ingestq.db import connect
from ingestq.errors import Interrupted, WorkerRunningError
from ingestq.ids import new_id
from ingestq.jobs import Job, get_job
from ingestq.queue import JobQueue
from ingestq.recovery import recover
from ingestq.resources import Resources

log = logging.getLogger(__name__)


@contextmanager
def worker_lock(settings: Settings) -> Iterator[None]:
    """Hold the home's worker lock, or raise :class:`WorkerRunningError`."""
    settings.home.mkdir(parents=True, exist_ok=True)
    fh: IO[str] = open(settings.worker_lock, "a+")  # noqa: SIM115 - held for the context
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "unknown"
            raise WorkerRunningError(
                f"a worker is already running on {settings.home} (pid {pid})"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the flock; the kernel does it too if we die


def worker_running(settings: Settings) -> bool:
    """Whether a worker holds this home's lock right now."""
    if not settings.worker_lock.exists():
        return False
    with open(settings.worker_lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False  # closing releases the lock we just took


#: Seconds between a running worker's looks at the callback outbox.
CALLBACK_POLL_S = 1.0


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 1
    burst: bool = False


class Worker:
    """Runs jobs: owns the model, the Chroma client and the shutdown state."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.queue = JobQueue(settings, handler=self.execute)
        self._db = threading.local()
        self.tools = Resources(settings)
        self._stop_at: float | None = None
        # A burst records the jobs it claims, to report them; a long-running
        # worker does not, or the list would grow for as long as it runs.
        self.ran: list[str] | None = None
        self.queue.huey.on_startup()(self.tools.load)

    @property
    def conn(self) -> Any:
        # One connection per thread: sqlite3 connections are not for sharing.
        conn = getattr(self._db, "conn", None)
        if conn is None:
            conn = self._db.conn = connect(self.settings.state_db)
        return conn

    # -- shutdown --------------------------------------------------------------
    def request_stop(self) -> None:
        """Finish the job in flight within the grace period, then stop."""
        if self._stop_at is None:
            self._stop_at = time.monotonic() + self.settings.shutdown_grace_s

    @property
    def stopping(self) -> bool:
        return self._stop_at is not None

    def stop_deadline(self) -> float | None:
        return self._stop_at

    # -- one job ---------------------------------------------------------------
    def execute(self, job_id: str) -> None:
        """Run one delivery of ``job_id``. Never raises: one job cannot sink the worker."""
        from ingestq.runner import run_claimed

        try:
            job = lifecycle.claim(self.conn, job_id, self.owner)
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

    def delete_vectors(self, job_id: str, collection: str) -> None:
        store, embedder = self.tools.store, self.tools.embedder
        coll = store.collection(collection, embedder.name, embedder.dimension)
        store.delete_where(coll, {"job_id": job_id})

    # -- repair ----------------------------------------------------------------
    def recover(self) -> None:
        """Repair lost leases and messages, and remove vectors nobody should see."""
        report = recover(
            self.conn,
            self.queue,
            self.owner,
            lease_s=self.settings.lease_s,
            max_attempts=self.settings.max_retries + 1,
        )
        for job_id, collection in report.to_purge:
            try:
                self.delete_vectors(job_id, collection)
                lifecycle.vectors_removed(self.conn, job_id)
            except Exception:
                log.exception("could not remove the vectors of job %s", job_id)

    def _recover_periodically(self, stop: threading.Event) -> None:
        while not stop.wait(self.settings.recovery_interval_s):
            try:
                self.recover()
            except Exception:
                # A busy database now is no reason to stop trying later.
                log.exception("periodic recovery failed")

    def deliver_callbacks(self) -> None:
        """Send the callbacks that are due (see :mod:`ingestq.callbacks`)."""
        from ingestq import callbacks

        try:
            if callbacks.pending_count(self.conn):  # don't make a fetcher for nothing
                callbacks.deliver_due(self.conn, self.tools.fetcher, self.settings.signing_key)
        except Exception:
            log.exception("callback delivery failed; the outbox keeps them for later")

    def _deliver_periodically(self, stop: threading.Event) -> None:
        while not stop.wait(CALLBACK_POLL_S):
            self.deliver_callbacks()

    # -- the loop --------------------------------------------------------------
    def run(self, options: WorkerOptions) -> int:
        """Recover, then run jobs until stopped (or, with ``burst``, until none is due)."""
        self.recover()
        if options.burst:
            return self._run_burst()
        self.tools.load()
        return self._run_consumer(options.concurrency)

    def _run_burst(self) -> int:
        handled = 0
        self.ran = []
        with _signals(self):
            while not self.stopping:
                for task in self.queue.huey.read_schedule():
                    self.queue.huey.enqueue(task)
                task = self.queue.huey.dequeue()
                if task is None:
                    break
                # Loaded at the first due job, not at start: a nightly burst over
                # an unchanged corpus finds nothing due and never loads the model.
                # Not inside the job either, or its timings would include the load.
                self.tools.load()
                self.queue.huey.execute(task)
                handled += 1
        # First attempts now; a retry still waiting is sent by the next worker.
        self.deliver_callbacks()
        return handled

    def _run_consumer(self, concurrency: int) -> int:
        consumer = _consumer_class()(self, workers=concurrency)
        stop = threading.Event()
        repair = threading.Thread(
            target=self._recover_periodically, args=(stop,), name="ingestq-recovery", daemon=True
        )
        repair.start()
        threading.Thread(
            target=self._deliver_periodically, args=(stop,), name="ingestq-callbacks", daemon=True
        ).start()
        log.info(
            "ready: %d job(s) at a time, polling every %g s",
            concurrency,
            self.settings.poll_interval_s,
        )
        try:
            consumer.run()
        finally:
            stop.set()
        return 0


@contextmanager
def _signals(worker: Worker) -> Iterator[None]:
    """SIGINT/SIGTERM: stop gracefully; a second one: stop now."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if worker.stopping:
            raise Interrupted("stopped at once on a second signal")
        log.info(
            "received %s: finishing the job in flight (grace %g s)",
            signal.Signals(signum).name,
            worker.settings.shutdown_grace_s,
        )
        worker.request_stop()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _consumer_class() -> Any:
    # Built on first use: huey.consumer is only needed by a running worker.
    from huey.consumer import Consumer

    class IngestqConsumer(Consumer):  # type: ignore[misc]
        """Huey's consumer with ingestq's shutdown: both signals are graceful."""

        def __init__(self, worker: Worker, workers: int) -> None:
            s = worker.settings
            super().__init__(
                worker.queue.huey,
                workers=workers,
                worker_type="thread",
                initial_delay=min(0.1, s.poll_interval_s),
                max_delay=s.poll_interval_s,
                backoff=1.15,
                periodic=True,
                check_worker_health=True,
                shutdown_timeout=s.shutdown_grace_s + 5,
            )
            self._ingestq_worker = worker

        def _set_signal_handlers(self) -> None:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._handle_signal)

        def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
            self._signum, self._restart, self._graceful = signum, False, True
            self._ingestq_worker.request_stop()
            # A second signal interrupts the graceful wait (KeyboardInterrupt
            # reaches Consumer.stop, which then stops at once).
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.default_int_handler)

    return IngestqConsumer


def run_until(settings: Settings, done: Callable[[], bool]) -> None:
    """Work bursts in this process until ``done()``: ``--wait`` with no worker running.

    One :class:`Worker` for all the bursts, so the model loads at most once,
    and a job retrying later is run when its time comes.
    """
    with worker_lock(settings):
        worker = Worker(settings)
        while True:
            worker.run(WorkerOptions(burst=True))
            if done() or worker.stopping:
                return
            time.sleep(settings.poll_interval_s)


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
        from ingestq.errors import UsageError

        raise UsageError("--concurrency must be at least 1")
    with worker_lock(settings):
        worker = Worker(settings)
        deliveries = worker.run(options)
        ran = list(dict.fromkeys(worker.ran or []))  # a retried job ran twice: report it once
        return WorkerRun(deliveries, [get_job(worker.conn, job_id) for job_id in ran])
