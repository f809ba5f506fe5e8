"""The worker's heavy tools, each made on first use and then kept for the process.

The model takes seconds to load and Chroma about 1.5 s to import, so nothing
loads them before there is work: a nightly burst that finds nothing due never
pays for the model. Workers call :meth:`Resources.load` before their first job
(a long-running one at start), so no job's timings include the load; the
properties load on first use for callers that skip that.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from ingestq.config import Settings

if TYPE_CHECKING:
    from ingestq.embedder import Embedder
    from ingestq.fetch import Fetcher
    from ingestq.vectorstore import VectorStore

log = logging.getLogger(__name__)


class Resources:
    """The embedder, the vector store and the fetcher of one worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # One lock for all three: Huey's threads start together, and two
        # threads must not load the model twice.
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._store: VectorStore | None = None
        self._fetcher: Fetcher | None = None

    def load(self) -> None:
        """Make all three now (Huey calls this once per worker thread)."""
        started = time.monotonic()
        _ = self.embedder, self.store, self.fetcher
        log.debug("resources ready in %.1f s", time.monotonic() - started)

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from ingestq.openai_embedder import make_embedder

                self._embedder = make_embedder(self.settings.model)
            return self._embedder

    @embedder.setter
    def embedder(self, value: Embedder) -> None:
        self._embedder = value  # tests share one loaded model across workers

    @property
    def store(self) -> VectorStore:
        with self._lock:
            if self._store is None:
                from ingestq.vectorstore import VectorStore

                self._store = VectorStore(self.settings.chroma_dir)
            return self._store

    @property
    def fetcher(self) -> Fetcher:
        with self._lock:
            if self._fetcher is None:
                from ingestq.fetch import Fetcher

                self._fetcher = Fetcher(self.settings)
            return self._fetcher
