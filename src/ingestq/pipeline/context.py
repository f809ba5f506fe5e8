"""What an attempt works with: the worker's long-lived tools and what it knows of the document."""

from __future__ import annotations

from dataclasses import dataclass

from ingestq.config import Settings
from ingestq.embed.base import Embedder
from ingestq.pipeline.chunks import ChunkIndex
from ingestq.pipeline.resources import Resources
from ingestq.readers.fetch import Fetcher
from ingestq.readers.sandbox import ParserPool
from ingestq.state.db import Database
from ingestq.state.versions import Version
from ingestq.store.blobs import BlobStore
from ingestq.store.vectors import VectorStore


@dataclass
class Context:
    """The tools an attempt needs, made on first use: an unchanged page never needs the model."""

    settings: Settings
    resources: Resources
    db: Database
    previous: Version | None = None  # the document's current version, if any

    @property
    def embedder(self) -> Embedder:
        return self.resources.embedder

    @property
    def store(self) -> VectorStore:
        return self.resources.store

    @property
    def chunks(self) -> ChunkIndex:
        """Where chunks are written and deleted: the vectors and the lexical index."""
        return ChunkIndex(self.resources.store, self.db)

    @property
    def fetcher(self) -> Fetcher:
        return self.resources.fetcher

    @property
    def blobs(self) -> BlobStore:
        return self.resources.blobs

    @property
    def parsers(self) -> ParserPool:
        return self.resources.parsers
