"""One embedding loop for a worker: batches filled from every job in flight.

A job embeds a page or a section at a time, and its topics a few dozen short
phrases, so on its own it hands the model small batches, padded to their
longest text. :class:`BatchingEmbedder` owns the model in a thread of its
own: job threads submit their texts and wait; the loop takes what every job
has pending (up to a window of a few batches), sorts it by length so each
batch pads little, encodes, and hands each request its rows.

Each request stays its job's: a request whose job must stop (cancelled, timed
out, the worker stopping) leaves the queue at once, and a batch that fails is
run again request by request, so only the request that breaks the model fails.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ingestq.embed.base import Embedder
from ingestq.embed.chunking import TokenChunker

log = logging.getLogger(__name__)

#: Batches of texts one pass of the loop gathers and sorts by length at most,
#: and texts at least (the CPU's batches are small: a window of four would hold
#: less than one job's step).
WINDOW_BATCHES = 4
WINDOW_TEXTS = 256
#: Seconds the loop waits at most for the other jobs in flight to submit, when
#: what is pending fills no batch: where a call costs more than its texts (a GPU,
#: an endpoint)...
LINGER_S = 0.05
#: ...but not on the CPU, where a text costs the same in a batch of one as in a
#: batch of eight (benchmarks/device.py): waiting there only idled the model, 0.4 s
#: of the corpus's 14 s (figure 5).
CPU_LINGER_S = 0.0
#: Seconds between a waiting job's looks at its own stop check.
POLL_S = 0.05
#: A batch is padded to its longest text, so a text longer than this many times
#: the batch's shortest starts a batch of its own: fifteen topic words batched
#: with one 200-word chunk cost 13x what they cost apart (each padded to the chunk).
SPREAD = 2.0
#: Texts up to this many characters batch together whatever their ratio.
SHORT = 128

Stop = Callable[[], None]  # raises when the job must end (Checkpoint.stop)

_scope = threading.local()  # the job this thread works for: (owner, stop)
_jobs_lock = threading.Lock()
_jobs: dict[str, int] = {}  # the jobs in flight in this process (owner: scopes open)
_loops: weakref.WeakSet[BatchingEmbedder] = weakref.WeakSet()  # woken when a job ends


@dataclass
class BatchStats:
    """What the loop has done: for logs, tests and benchmarks."""

    batches: int = 0  # calls of the model
    texts: int = 0
    dropped: int = 0  # requests withdrawn before they were encoded
    busy_s: float = 0.0  # seconds the model ran
    #: The owners (job ids) of the last windows given to the model, oldest first
    #: (recorded before the model runs, so a window that failed is there too).
    recent: deque[tuple[str, ...]] = field(default_factory=lambda: deque(maxlen=256))


class _Request:
    def __init__(self, texts: list[str], owner: str) -> None:
        self.texts = texts
        self.owner = owner
        self.done = threading.Event()
        self.rows: Any = None
        self.error: BaseException | None = None

    def finish(self, rows: Any = None, error: BaseException | None = None) -> None:
        self.rows, self.error = rows, error
        self.done.set()


class BatchingEmbedder:
    """An :class:`~ingestq.embed.base.Embedder` whose calls from many threads share batches."""

    def __init__(
        self, inner: Embedder, batch_size: int = 64, linger_s: float | None = None
    ) -> None:
        self.inner = inner
        self.batch_size = batch_size
        self.linger_s = LINGER_S if linger_s is None else linger_s
        self.stats = BatchStats()
        self._pending: deque[_Request] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        with _jobs_lock:
            _loops.add(self)

    # -- the Embedder protocol -------------------------------------------------
    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def chunker(self, tokens: int | None = None, overlap: int | None = None) -> TokenChunker:
        return self.inner.chunker(tokens, overlap)

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        """Unit-length float32 vectors, one row per text, encoded in shared batches.

        Inside :func:`job_scope` the texts are that job's (see :meth:`submit`).
        """
        owner, stop = getattr(_scope, "job", None) or ("", None)
        return self.submit(texts, owner, stop)

    # -- submitting ------------------------------------------------------------
    def submit(self, texts: list[str], owner: str = "", stop: Stop | None = None) -> Any:
        """Encode ``texts`` for ``owner`` (a job id) in the shared batches, and wait.

        ``stop`` is the job's own check, called while it waits: when it raises,
        the request leaves the queue at once (if the model has not taken it
        yet) and the exception goes to the caller.
        """
        import numpy as np

        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        request = _Request(list(texts), owner)
        with self._wake:
            if self._closed:
                raise RuntimeError("the embedding loop is closed")
            self._start()
            self._pending.append(request)
            self._wake.notify_all()
        while not request.done.wait(POLL_S if stop is not None else None):
            if stop is not None:
                try:
                    stop()
                except BaseException:
                    self._withdraw(request)
                    raise
        if request.error is not None:
            raise request.error
        return request.rows

    def pending(self, owner: str) -> int:
        """Texts of ``owner`` waiting for the model."""
        with self._wake:
            return sum(len(r.texts) for r in self._pending if r.owner == owner)

    def wake(self) -> None:
        """Make the loop look at its queue again."""
        with self._wake:
            self._wake.notify_all()

    def _withdraw(self, request: _Request) -> None:
        with self._wake:
            if request in self._pending:
                self._pending.remove(request)
                self.stats.dropped += 1

    def close(self) -> None:
        """Stop the loop; pending requests fail."""
        with self._wake:
            self._closed = True
            left, self._pending = list(self._pending), deque()
            self._wake.notify_all()
        for r in left:
            r.finish(error=RuntimeError("the embedding loop is closed"))
        if self._thread is not None:
            # Wait for a batch still in the model: a process that exits while ONNX
            # Runtime runs in a (daemon) thread aborts ("terminate called").
            self._thread.join(timeout=30)
            stats = self.stats
            log.info(
                "embedding loop: %d texts in %d batches, the model busy %.1f s",
                stats.texts,
                stats.batches,
                stats.busy_s,
            )

    # -- the loop --------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="ingestq-embed", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            window = self._gather()
            if window is None:
                return
            self._run(window)

    def _gather(self) -> list[_Request] | None:
        """The requests of the next window, oldest first; None once closed."""
        limit = max(WINDOW_BATCHES * self.batch_size, WINDOW_TEXTS)
        with self._wake:
            while not self._pending and not self._closed:
                self._wake.wait()
            if self._closed:
                return None
            # Less than a batch pending and another job in flight about to
            # submit (it was writing its last batch, or parsing): wait for it a
            # moment, or the loop would take the jobs' requests in turns, each
            # a small batch of its own.
            deadline = time.monotonic() + self.linger_s
            while (
                _count(self._pending) < self.batch_size
                and _awaited(self._pending)
                and not self._closed
                and (left := deadline - time.monotonic()) > 0
            ):
                self._wake.wait(left)
            if self._closed:
                return None
            window: list[_Request] = []
            size = 0
            while self._pending and (not window or size + len(self._pending[0].texts) <= limit):
                request = self._pending.popleft()
                window.append(request)
                size += len(request.texts)
            return window

    def _run(self, window: list[_Request]) -> None:
        try:
            rows = self._encode(window)
        except Exception as exc:
            if len(window) == 1:
                log.debug("embedding failed for job %s", window[0].owner, exc_info=True)
                window[0].finish(error=exc)
                return
            # One request broke the batch: run them apart, so only it fails.
            for request in window:
                self._run([request])
            return
        start = 0
        for request in window:
            end = start + len(request.texts)
            request.finish(rows=rows[start:end])
            start = end

    def _encode(self, window: list[_Request]) -> Any:
        """Encode the window's texts sorted by length (less padding), rows in their order."""
        import numpy as np

        self.stats.recent.append(tuple(r.owner for r in window))
        texts = [t for r in window for t in r.texts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = even_batches([texts[i] for i in order], self.batch_size)
        started = time.monotonic()
        try:
            by_length = np.vstack([self.inner.encode(b, self.batch_size) for b in batches])
        finally:
            self.stats.busy_s += time.monotonic() - started
        rows = np.empty_like(by_length)
        rows[order] = by_length
        self.stats.batches += len(batches)
        self.stats.texts += len(texts)
        return rows


def linger_for(device: str) -> float:
    """How long the loop waits for batch-mates on ``device`` (a settled device)."""
    return CPU_LINGER_S if device == "cpu" else LINGER_S


def even_batches(texts: list[str], size: int) -> list[list[str]]:
    """Cut ``texts``, sorted by length, into batches of at most ``size`` whose
    longest text is at most :data:`SPREAD` times their shortest (or :data:`SHORT`)."""
    batches: list[list[str]] = []
    for text in texts:
        current = batches[-1] if batches else None
        if (
            current is None
            or len(current) >= size
            or len(text) > max(SPREAD * len(current[0]), SHORT)
        ):
            batches.append([text])
        else:
            current.append(text)
    return batches


def _count(pending: deque[_Request]) -> int:
    return sum(len(r.texts) for r in pending)


def _awaited(pending: deque[_Request]) -> bool:
    """Whether a job in flight has nothing pending (so it may submit soon)."""
    with _jobs_lock:
        return bool(_jobs.keys() - {r.owner for r in pending})


@contextmanager
def job_scope(owner: str, stop: Stop | None = None) -> Iterator[None]:
    """Within it, this thread's calls of a :class:`BatchingEmbedder` are ``owner``'s.

    The pipeline and the topics call ``encode`` as with any embedder; the job's
    id and stop check ride along, so the loop can tell whose rows are whose
    and a stopping job's requests leave the queue.
    """
    before = getattr(_scope, "job", None)
    _scope.job = (owner, stop)
    with _jobs_lock:
        _jobs[owner] = _jobs.get(owner, 0) + 1
    try:
        yield
    finally:
        _scope.job = before
        with _jobs_lock:
            _jobs[owner] -= 1
            if not _jobs[owner]:
                del _jobs[owner]
            loops = list(_loops)
        for loop in loops:  # none need wait for this job any more
            loop.wake()


__all__ = ["BatchStats", "BatchingEmbedder", "job_scope", "linger_for"]
