"""The Chroma store: one Chroma collection per ingestq collection.

We always hand Chroma our own vectors, for writes and for queries, and open
collections with ``embedding_function=None``. Left to itself Chroma attaches its
default embedding function, which downloads a model at first use; on a machine
without internet that fails, and elsewhere it would silently mix two models.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestq.errors import ModelMismatchError, NotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """One search result."""

    rank: int
    score: float
    source: str
    page: int | None
    job_id: str
    text: str
    chunk_index: int | None = None


class VectorStore:
    """A persistent Chroma client rooted in ``path``."""

    def __init__(self, path: Path) -> None:
        # Chroma reads this at import; set it before the import, never phone home.
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
        )
        self.max_batch = int(self._client.get_max_batch_size())

    def collection(self, name: str, model: str, dimension: int, *, create: bool = True) -> Any:
        """The collection ``name``, checked to have been built with ``model``."""
        if create:
            coll = self._client.get_or_create_collection(
                name,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": model, "dimension": dimension},
                embedding_function=None,
            )
        else:
            coll = self._get(name)
        meta = coll.metadata or {}
        if meta.get("embedding_model") != model or meta.get("dimension") != dimension:
            raise ModelMismatchError(
                f"collection {name!r} was built with {meta.get('embedding_model')!r} "
                f"({meta.get('dimension')} dims), not {model!r} ({dimension} dims); "
                "use the same model or another collection"
            )
        return coll

    def all_collections(self) -> list[Any]:
        return [
            self._get(c if isinstance(c, str) else c.name) for c in self._client.list_collections()
        ]

    def get_collection(self, name: str) -> Any:
        """An existing collection as it is, for reading or deleting (no model check)."""
        return self._get(name)

    def collection_metadata(self, name: str) -> dict[str, Any]:
        """The metadata of an existing collection; :class:`NotFoundError` if there is none."""
        return dict(self._get(name).metadata or {})

    def _get(self, name: str) -> Any:
        try:
            return self._client.get_collection(name, embedding_function=None)
        except Exception as exc:  # chromadb raises NotFoundError or ValueError by version
            raise NotFoundError(f"collection {name!r} does not exist yet") from exc

    def add(
        self,
        coll: Any,
        ids: Sequence[str],
        vectors: Any,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Add records in batches Chroma accepts.

        ``add``, not ``upsert``: upsert merges metadata into an existing record,
        so a replaced chunk could keep stale fields. Callers delete first.
        """
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            coll.add(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                documents=list(texts[start:end]),
                metadatas=list(metadatas[start:end]),
            )

    def vectors_by_text(self, coll: Any, job_ids: Sequence[str]) -> dict[str, Any]:
        """The stored vector of every chunk of ``job_ids``, keyed by :func:`text_key`.

        Read page by page, so a 1,000-page document's vectors come back in
        batches Chroma is comfortable with.
        """
        found: dict[str, Any] = {}
        where = {"job_id": {"$in": list(job_ids)}}
        offset = 0
        while True:
            got = coll.get(
                where=where,
                include=["documents", "embeddings"],
                limit=self.max_batch,
                offset=offset,
            )
            for text, vector in zip(got["documents"], got["embeddings"], strict=True):
                found[text_key(text or "")] = vector
            if len(got["ids"]) < self.max_batch:
                return found
            offset += self.max_batch

    def delete_where(self, coll: Any, where: dict[str, Any]) -> None:
        coll.delete(where=where)

    def count(self, coll: Any, where: dict[str, Any] | None = None) -> int:
        if where is None:
            return int(coll.count())
        return len(coll.get(where=where, include=[])["ids"])

    def query(self, coll: Any, vector: Any, k: int) -> list[Hit]:
        res = coll.query(
            query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances"]
        )
        hits = []
        for rank, (text, meta, dist) in enumerate(
            zip(res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True),
            start=1,
        ):
            meta = meta or {}
            hits.append(
                Hit(
                    rank=rank,
                    score=round(1.0 - float(dist), 4),
                    source=str(meta.get("source", "")),
                    page=_int(meta.get("page")),
                    job_id=str(meta.get("job_id", "")),
                    text=text or "",
                    chunk_index=_int(meta.get("chunk_index")),
                )
            )
        return hits


def text_key(text: str) -> str:
    """What identifies a chunk's vector: its exact text (the model sees nothing else)."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None
