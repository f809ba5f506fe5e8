"""The worker: running jobs from the queue until told to stop.

On an embedded home it holds the home's worker lock (:mod:`ingestq.worker.lock`)
for its whole life; with the state, queue and vectors on servers, any number of
workers on any number of hosts share the work (:mod:`ingestq.worker.fleet`).
It repairs what a lost worker left behind (at start and then periodically),
sends due callbacks, and runs each delivery through
:func:`ingestq.worker.runner.run_claimed`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from types import FrameType

from ingestq.config import Settings
from ingestq.embed import devices
from ingestq.embed.base import Embedder
from ingestq.errors import ConfigError, Interrupted, UsageError
from ingestq.pipeline.chunks import ChunkIndex
from ingestq.pipeline.resources import Resources
from ingestq.queue import ConsumerOptions, JobQueue, open_queue
from ingestq.state import lifecycle, open_state, outbox, recovery, workers
from ingestq.state.db import Database
from ingestq.state.jobs import Job, get_job
from ingestq.times import from_now
from ingestq.worker import fleet, repair
from ingestq.worker.burst import drain_in_threads
from ingestq.worker.callbacks import deliver_due
from ingestq.worker.lock import touch_lock, worker_lock
from ingestq.worker.runner import run_claimed

log = logging.getLogger(__name__)

#: Seconds between a running worker's looks at the callback outbox.
CALLBACK_POLL_S = 1.0


#: Seconds a stopping worker waits for jobs past their deadline to hand themselves back;
#: one stuck longer (in native code) is left to lease expiry and recovery.
SETTLE_S = 30.0
#: Seconds until a job a stopping worker did not take is delivered again.
REDELIVER_S = 2.0


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 1  # jobs at once; `ingestq worker` defaults to 2 (see docs/guide.md)
    burst: bool = False


class Worker:
    """Runs jobs: owns the model, the stores and the shutdown state."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, concurrency: int = 1
    ) -> None:
        self.settings = settings
        self.owner = fleet.owner_name()
        # Each job thread and its heartbeat, recovery, callbacks and presence may
        # each hold a connection at once.
        self.db: Database = open_state(settings, connections=2 * concurrency + 4)
        self.queue: JobQueue = open_queue(settings)
        self.quiet = fleet.Throttled()
        self.resources = Resources(settings, embedder, self.db)
        self._stop_at: float | None = None
        self._halted = False
        self._ready = False  # loaded, and the lexical index checked against the store
        self._ready_lock = threading.Lock()
        self._in_flight = threading.Condition()
        self._running = 0  # jobs between claim and their recorded outcome
        self._consuming = False
        #: A setup problem a job revealed (a collection of another model): why it stopped.
        self.refused: ConfigError | None = None
        # A burst records the jobs it claims, to report them; a long-running
        # worker does not, or the list would grow for as long as it runs.
        self.ran: list[str] | None = None

    def close(self) -> None:
        if self.settings.shared_state:
            try:
                workers.unregister(self.db, self.owner)
            except Exception as exc:  # its row expires on its own
                self.quiet.failed("the state database", exc)
        self.resources.close()
        self.db.close()

    # -- shutdown --------------------------------------------------------------
    def request_stop(self, why: str = "asked to stop") -> None:
        """Finish the job in flight within the grace period, then stop."""
        if self._stop_at is None:
            grace = self.settings.shutdown_grace_s
            self._stop_at = time.monotonic() + grace  # before it is said: a second signal is one
            log.info("%s: finishing the job in flight (grace %g s)", why, grace)

    def halt(self) -> None:
        """Stop at once: a job in flight ends at its next checkpoint, left to recovery."""
        self._halted = True
        if self._stop_at is None:  # take no new delivery either
            self._stop_at = time.monotonic()

    @property
    def stopping(self) -> bool:
        return self._stop_at is not None

    @property
    def halted(self) -> bool:
        return self._halted

    def stop_deadline(self) -> float | None:
        return self._stop_at

    # -- one job ---------------------------------------------------------------
    def execute(self, job_id: str) -> None:
        """Run one delivery of ``job_id``. Never raises: one job cannot sink the worker."""
        if self.stopping:
            # A delivery that reached a thread as the worker began to stop: leave
            # the job queued for another worker (or this one's next start).
            self._deliver_later(job_id)
            return
        try:
            job = lifecycle.claim(self.db, job_id, self.owner)
        except Exception as exc:
            if fleet.is_unreachable(exc):
                self.quiet.failed("the state database", exc)
            else:
                log.exception("could not claim job %s; recovery will deliver it again", job_id)
            return
        if job is None:
            log.info("job %s is not waiting; skipping this delivery", job_id)
            return
        if self.ran is not None:
            self.ran.append(job.id)
        with self._in_flight:
            self._running += 1
        try:
            run_claimed(self, job)
        except ConfigError as exc:
            self._refuse(exc)
            self._deliver_later(job.id)  # handed back; delivered once this worker stops taking
        except Exception:
            # Only the bookkeeping after a job can land here (say, the state
            # database is unwritable). Recovery at the next start repairs it.
            log.exception("could not record the outcome of job %s", job_id)
        finally:
            with self._in_flight:
                self._running -= 1
                self._in_flight.notify_all()

    def settle(self, timeout_s: float = SETTLE_S) -> bool:
        """Wait until no job is in flight; False if one still runs after ``timeout_s``.

        Past its stop deadline a job gives up at its next checkpoint and hands
        itself back; the consumer may stop waiting for its thread before that,
        and the process must not end before the hand-back is recorded.
        """
        if self._halted:
            # Stopped at once (a second signal): a job in flight records
            # nothing more; it is left to recovery.
            timeout_s = 0.0
        deadline = time.monotonic() + timeout_s
        with self._in_flight:
            while self._running and (left := deadline - time.monotonic()) > 0:
                self._in_flight.wait(left)
            return self._running == 0

    def _deliver_later(self, job_id: str) -> None:
        """Put ``job_id`` back on the queue, due shortly, for whichever worker is running.

        Delayed so that this worker's own threads, still draining their last
        deliveries while it stops, do not pass it back and forth. If the queue is
        out of reach, recovery re-delivers the job (it is queued in the state).
        """
        try:
            self.queue.enqueue([job_id], not_before=from_now(REDELIVER_S))
        except Exception as exc:
            log.warning("job %s: could not deliver it again (%s); recovery will", job_id, exc)

    def _refuse(self, exc: ConfigError) -> None:
        """Stop over a setup problem a job revealed; :meth:`run` raises it at the end."""
        if self.refused is None:
            self.refused = exc
        self.request_stop("this worker is set up wrong")
        if self._consuming:
            # Huey's consumer stops gracefully on SIGTERM, as under `kill`.
            os.kill(os.getpid(), signal.SIGTERM)

    # -- repair ----------------------------------------------------------------
    def recover(self) -> recovery.RecoveryReport:
        """Repair lost leases and messages, and remove vectors nobody should see."""
        return repair.recover(self)

    def _present(self) -> None:
        """Say this worker still runs: in the shared state, and on the home's lock."""
        if self.settings.shared_state:
            workers.seen(self.db, self.owner)
        touch_lock(self.settings)

    def deliver_callbacks(self) -> None:
        """Send the callbacks that are due (see :mod:`ingestq.worker.callbacks`)."""
        try:
            if outbox.pending_count(self.db):  # don't make a fetcher for nothing
                deliver_due(self.db, self.resources.fetcher, self.settings.signing_key)
        except Exception as exc:
            if fleet.is_unreachable(exc):
                self.quiet.failed("callback delivery", exc)
            else:
                log.exception("callback delivery failed; the outbox keeps them for later")

    def _every(self, seconds: float, work: Callable[[], object], what: str) -> threading.Event:
        """Run ``work`` every ``seconds`` in a thread until the returned event is set."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(seconds):
                try:
                    work()
                except Exception as exc:
                    # A busy or unreachable server now is no reason to stop trying later.
                    if fleet.is_unreachable(exc):
                        self.quiet.failed(what, exc)
                    else:
                        log.exception("%s failed", what)

        threading.Thread(target=loop, name=f"ingestq-{what}", daemon=True).start()
        return stop

    # -- the loop --------------------------------------------------------------
    def run(self, options: WorkerOptions) -> int:
        """Recover, then run jobs until stopped (or, with ``burst``, until none is due)."""
        if self.settings.shared_state:
            fleet.join(self.db, self.settings, self.owner)
        self.recover()
        if options.burst:
            handled = self._run_burst(options.concurrency)
        else:
            self.get_ready()
            handled = self._run_consumer(options.concurrency)
        if self.refused is not None:
            raise self.refused
        return handled

    def get_ready(self) -> None:
        """Load the model, the store and a parser, and mend the lexical index, once."""
        self.resources.load()
        with self._ready_lock:  # burst threads start together
            if not self._ready:
                repaired = ChunkIndex(self.resources.store, self.db).repair()
                if repaired:
                    log.info("lexical index: %d chunk(s) brought in line with the store", repaired)
                self._ready = True

    def _run_burst(self, concurrency: int = 1) -> int:
        self.ran = []
        with _signals(self):
            failed = partial(self.request_stop, "a burst thread failed")
            one = concurrency == 1
            handled = self._drain() if one else drain_in_threads(self._drain, concurrency, failed)
        # First attempts now; a retry still waiting is sent by the next worker.
        self.deliver_callbacks()
        return handled

    def _drain(self) -> int:
        """Run due jobs one after another until none is due (or the worker stops)."""
        handled = 0
        # Loaded at the first due job, not at start: a nightly burst over an
        # unchanged corpus finds nothing due and never loads the model. Not
        # inside the job either, or its timings would include the load.
        while not self.stopping and self.queue.run_next(self.execute, self.get_ready):
            handled += 1
        return handled

    def _run_consumer(self, concurrency: int) -> int:
        stops = [
            self._every(self.settings.recovery_interval_s, self.recover, "recovery"),
            self._every(CALLBACK_POLL_S, self.deliver_callbacks, "callbacks"),
            self._every(self.settings.heartbeat_s, self._present, "presence"),
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
            on_halt=self.halt,
        )
        self._consuming = True
        try:
            self.queue.consume(self.execute, options)
        finally:
            self._consuming = False
            for stop in stops:
                stop.set()
        return 0


@contextmanager
def _signals(worker: Worker) -> Iterator[None]:
    """SIGINT/SIGTERM: stop gracefully; a second one: stop now."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if worker.stopping:
            worker.halt()
            raise Interrupted("stopped at once on a second signal")
        worker.request_stop(f"received {signal.Signals(signum).name}")

    if threading.current_thread() is not threading.main_thread():
        # Only the main thread may take signals: a burst run in another leaves them to its caller.
        yield
        return
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
    settings, _ = devices.settle(settings)
    with worker_lock(settings):
        worker = Worker(settings)
        try:
            while True:
                worker.run(WorkerOptions(burst=True))
                if done() or worker.stopping:
                    return
                time.sleep(settings.poll_interval_s)
        finally:
            if not worker.settle():
                log.warning("a job is still running; recovery will put it back after its lease")
            worker.close()


@dataclass
class WorkerRun:
    """What a worker did before it stopped: the jobs it ran, as they ended up."""

    deliveries: int
    jobs: list[Job]

    def counts(self) -> dict[str, int]:
        return dict(Counter(job.state for job in self.jobs))


def run_worker(settings: Settings, options: WorkerOptions) -> WorkerRun:
    """Take the home's worker lock and run until stopped (or, in a burst, drained)."""
    if options.concurrency < 1:
        raise UsageError("{concurrency} must be at least 1", params=("concurrency",))
    settings, device = devices.settle(settings)
    with worker_lock(settings):
        worker = Worker(settings, concurrency=options.concurrency)
        # Said once the backends answered: a worker that cannot start says only why.
        log.info(
            "worker %s starting: %s; embeds on %s", worker.owner, fleet.describe(settings), device
        )
        try:
            deliveries = worker.run(options)
            ran = list(dict.fromkeys(worker.ran or []))  # a retried job ran twice: report it once
            return WorkerRun(deliveries, [get_job(worker.db, job_id) for job_id in ran])
        finally:
            if not worker.settle():
                log.warning("a job is still running; recovery will put it back after its lease")
            worker.close()
