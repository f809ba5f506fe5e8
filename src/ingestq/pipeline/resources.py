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
from ingestq.embed.batcher import BatchingEmbedder, linger_for
from ingestq.readers.sandbox import ParserPool
from ingestq.store import open_blob_store, open_vector_store
from ingestq.store.blobs import BlobStore

if TYPE_CHECKING:
    from ingestq.embed.base import Embedder
    from ingestq.readers.fetch import Fetcher
    from ingestq.state.db import Database
    from ingestq.store.vectors import VectorStore

log = logging.getLogger(__name__)


class Resources:
    """The embedder, the stores, the fetcher and the parser processes of one worker."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, db: Database | None = None
    ) -> None:
        self.settings = settings
        # One lock for all: Huey's threads start together, and two threads must
        # not load the model twice.
        self._lock = threading.RLock()
        # An embedder given here is shared: tests load the model once for many workers.
        self._model = embedder
        self._embedder: BatchingEmbedder | None = None
        self._store: VectorStore | None = None
        self._fetcher: Fetcher | None = None
        # The worker's state database: on PostgreSQL the blobs live there.
        self.blobs: BlobStore = open_blob_store(settings, db)
        self.parsers = ParserPool(settings.parse_memory_mb)

    def load(self) -> None:
        """Make them all now (Huey calls this once per worker thread)."""
        started = time.monotonic()
        self.parsers.warm()
        _ = self.embedder, self.store, self.fetcher
        log.debug("resources ready in %.1f s", time.monotonic() - started)

    def close(self) -> None:
        """Stop the parser processes and close the fetcher's connections."""
        self.parsers.close()
        self.blobs.close()
        with self._lock:
            if self._fetcher is not None:
                self._fetcher.close()
            if self._embedder is not None:
                self._embedder.close()

    @property
    def embedder(self) -> BatchingEmbedder:
        """The model behind this worker's one embedding loop, which every job's
        texts share (see :mod:`ingestq.embed.batcher`)."""
        with self._lock:
            if self._embedder is None:
                if self._model is None:
                    from ingestq.embed import load_embedder

                    self._model = load_embedder(self.settings)
                self._embedder = BatchingEmbedder(
                    self._model,
                    self.settings.embed_batch_size,
                    linger_for(self.settings.device),
                )
            return self._embedder

    @property
    def store(self) -> VectorStore:
        with self._lock:
            if self._store is None:
                self._store = open_vector_store(self.settings)
            return self._store

    @property
    def fetcher(self) -> Fetcher:
        with self._lock:
            if self._fetcher is None:
                from ingestq.readers.fetch import Fetcher

                self._fetcher = Fetcher(self.settings)
            return self._fetcher
