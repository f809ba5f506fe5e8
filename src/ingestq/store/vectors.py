"""The vector store's interface: chunks, their vectors and metadata, per collection.

A collection is built with one embedding model; the store records which and
refuses to mix another in (:class:`~ingestq.errors.ModelMismatchError`). Every
chunk carries stable metadata: the job and document it came from (``job_id``,
``source``), its place (``chunk_index``, ``page`` or ``section``) and its
``tokens``. Vectors are always ours: the store never embeds anything itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Hit:
    """One nearest neighbour of a query vector."""

    rank: int
    score: float  # cosine similarity: 1 is identical
    source: str
    page: int | None
    job_id: str
    text: str
    chunk_index: int | None = None
    chunk_id: str = ""
    section: str | None = None


@dataclass(frozen=True)
class StoredChunk:
    """One chunk as the store holds it."""

    id: str
    index: int
    page: int | None
    page_end: int | None
    section: str | None
    tokens: int | None
    text: str


@dataclass(frozen=True)
class CollectionMeta:
    """A collection, its size and the model that built it."""

    name: str
    chunks: int
    model: str | None
    dimension: int | None


class VectorStore(Protocol):
    """Where chunks and their vectors live."""

    def ensure_collection(self, name: str, model: str, dimension: int) -> None:
        """Make ``name`` exist, built with ``model``; ModelMismatchError if it was not."""
        ...

    def check_collection(self, name: str, model: str) -> None:
        """NotFoundError unless ``name`` exists; ModelMismatchError unless ``model`` built it."""
        ...

    def add(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: Any,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Write new chunks (ids must not exist yet)."""
        ...

    def vectors_by_text(self, collection: str, job_ids: Sequence[str]) -> dict[str, Any]:
        """The stored vector of every chunk of ``job_ids``, keyed by :func:`text_key`."""
        ...

    def delete_job(self, collection: str, job_id: str) -> None:
        """Delete every chunk a job wrote (nothing if the collection does not exist)."""
        ...

    def delete_document(self, collection: str, source: str, *, keep_job: str | None = None) -> None:
        """Delete every chunk of a document, except those ``keep_job`` wrote."""
        ...

    def count(self, collection: str, job_id: str | None = None) -> int:
        """Chunks in the collection, or of one job in it."""
        ...

    def query(self, collection: str, vector: Any, k: int) -> list[Hit]:
        """The ``k`` chunks nearest ``vector``, best first."""
        ...

    def collections(self) -> list[CollectionMeta]:
        """Every collection."""
        ...

    def chunks(self, collection: str, job_id: str) -> list[StoredChunk]:
        """A job's chunks, in order."""
        ...

    def records(self, collection: str, *, vectors: bool = False) -> Iterator[dict[str, Any]]:
        """Every chunk of a collection: id, text, metadata (and embedding), page by page."""
        ...


def text_key(text: str) -> str:
    """What identifies a chunk's vector: its exact text (the model sees nothing else)."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
