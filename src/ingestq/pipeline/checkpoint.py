"""Where an attempt checks in: its deadlines, its progress and its stage timings.

Between pages and batches an attempt calls its :class:`Checkpoint`, which
enforces the job timeout and the worker's shutdown deadline, reports progress
(throttled) and so renews the lease, and adds up the seconds spent per stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingestq.errors import JobError, JobHalted, JobInterrupted, JobTimeoutError

#: Progress goes to the state database at most this often, except on stage changes.
REPORT_EVERY_S = 0.5

Reporter = Callable[[str, float, int, "int | None", bool], bool]


@dataclass
class Checkpoint:
    """Where an attempt checks its deadlines and reports progress."""

    report: Reporter  # (stage, progress, vectors, pages, first time in stage) -> still ours?
    timeout_s: float
    stop_at: Callable[[], float | None]  # monotonic shutdown deadline, if any
    halted: Callable[[], bool] = lambda: False  # the worker stopped at once
    started: float = 0.0
    stage: str = ""
    _last: float = 0.0
    _seen: set[str] = field(default_factory=set)
    _entered: float = 0.0  # when the current stage began
    spent: dict[str, float] = field(default_factory=dict)  # seconds per stage, all batches
    #: Why the attempt must end, set from another thread (the heartbeat saw a cancel).
    _abandoned: tuple[type[JobError], str] | None = None

    def __post_init__(self) -> None:
        self.started = self._last = time.monotonic()

    def abandon(self, error: type[JobError], message: str) -> None:
        """Make the next :meth:`stop` raise ``error(message)``; safe from any thread."""
        self._abandoned = (error, message)

    def stop(self) -> None:
        """Raise if the attempt must end now: abandoned, timed out, or the worker stopping.

        Safe from any thread, and cheap: a fetch or a parse calls it while it waits.
        """
        if self._abandoned is not None:
            error, message = self._abandoned
            raise error(message)
        self.deadlines()

    def deadlines(self) -> float:
        """Raise if the attempt is past its timeout or the worker's shutdown; return now."""
        if self.halted():
            # Not a hand-back: the process is on its way out, and removing the
            # partial vectors could take longer than "at once"; recovery will.
            raise JobHalted("the worker stopped at once")
        now = time.monotonic()
        if now - self.started > self.timeout_s:
            raise JobTimeoutError(f"timed out after {self.timeout_s:g} s")
        deadline = self.stop_at()
        if deadline is not None and now >= deadline:
            raise JobInterrupted("the worker is shutting down")
        return now

    def finish(self) -> dict[str, float]:
        """Seconds spent in each stage, the current one closed now."""
        if self.stage:
            now = time.monotonic()
            self.spent[self.stage] = self.spent.get(self.stage, 0.0) + now - self._entered
            self._entered, self.stage = now, ""
        return {k: round(v, 4) for k, v in self.spent.items()}

    def __call__(self, stage: str, progress: float, vectors: int, pages: int | None = None) -> None:
        """Check the deadlines, then report progress (throttled) and renew the lease."""
        now = self.deadlines()
        if stage != self.stage:
            if self.stage:
                self.spent[self.stage] = self.spent.get(self.stage, 0.0) + now - self._entered
            self._entered = now
        if stage != self.stage or now - self._last >= REPORT_EVERY_S:
            self.stage, self._last = stage, now
            first = stage not in self._seen
            self._seen.add(stage)
            if not self.report(stage, progress, vectors, pages, first):
                raise JobInterrupted("the job is no longer leased to this worker")
