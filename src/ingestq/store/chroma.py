"""The vector store on Chroma: one Chroma collection per ingestq collection.

We always hand Chroma our own vectors, for writes and for queries, and open
collections with ``embedding_function=None``. Left to itself Chroma attaches its
default embedding function, which downloads a model at first use; on a machine
without internet that fails, and elsewhere it would silently mix two models.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ingestq.errors import ModelMismatchError, NotFoundError, StoreError, UnreachableError
from ingestq.home import make_private
from ingestq.masking import mask
from ingestq.store.vectors import CollectionMeta, Hit, StoredChunk, text_key

log = logging.getLogger(__name__)


class ChromaStore:
    """A :class:`~ingestq.store.vectors.VectorStore` on a Chroma client: embedded
    (:meth:`embedded`) or a Chroma server (:meth:`server`)."""

    def __init__(self, client: Any, where: str) -> None:
        self._client = client
        self.where = where
        try:
            self.max_batch = int(self._client.get_max_batch_size())
        except Exception as exc:  # chromadb's errors have no common base
            raise StoreError(f"the vector store ({where}) cannot be used: {_short(exc)}") from exc
        self._open: dict[str, Any] = {}  # collections checked for their model, by name

    @classmethod
    def embedded(cls, path: Path) -> ChromaStore:
        """Chroma's persistent client on ``path``: one writing process at a time."""
        chromadb, settings = _chromadb()
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            client = chromadb.PersistentClient(path=str(path), settings=settings)
        except Exception as exc:
            raise StoreError(f"the vector store ({path}) cannot be used: {_short(exc)}") from exc
        store = cls(client, str(path))
        make_private(path / "chroma.sqlite3")
        return store

    @classmethod
    def server(cls, url: str, token: str | None, tenant: str, database: str) -> ChromaStore:
        """A Chroma server's HTTP client; the database is created on first use."""
        from urllib.parse import urlsplit

        chromadb, settings = _chromadb()
        parts = urlsplit(url)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            admin = chromadb.AdminClient(
                settings.__class__(
                    chroma_api_impl="chromadb.api.fastapi.FastAPI",
                    chroma_server_host=parts.hostname,
                    chroma_server_http_port=port,
                    chroma_server_ssl_enabled=parts.scheme == "https",
                    chroma_server_headers=headers,
                    anonymized_telemetry=False,
                )
            )
            try:
                admin.get_database(database, tenant=tenant)
            except Exception:
                admin.create_database(database, tenant=tenant)
            client = chromadb.HttpClient(
                host=parts.hostname or "localhost",
                port=port,
                ssl=parts.scheme == "https",
                headers=headers,
                settings=settings,
                tenant=tenant,
                database=database,
            )
        except Exception as exc:
            raise UnreachableError(
                f"cannot use the Chroma server at {mask(url)}: {_short(exc)}"
            ) from None
        return cls(client, mask(url))

    # -- collections ------------------------------------------------------------
    def ensure_collection(self, name: str, model: str, dimension: int) -> None:
        coll = self._open.get(name) or self._client.get_or_create_collection(
            name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedding_model": model, "dimension": dimension},
            embedding_function=None,
        )
        meta = coll.metadata or {}
        if meta.get("embedding_model") != model or meta.get("dimension") != dimension:
            raise ModelMismatchError(
                f"collection {name!r} was built with {meta.get('embedding_model')!r} "
                f"({meta.get('dimension')} dims), not {model!r} ({dimension} dims); "
                "use the same model or another collection"
            )
        self._open[name] = coll

    def check_collection(self, name: str, model: str) -> None:
        meta = self._get(name).metadata or {}
        if meta.get("embedding_model") != model:
            raise ModelMismatchError(
                f"collection {name!r} was built with {meta.get('embedding_model')!r}, "
                f"not {model!r}; search it with the model that built it"
            )

    def collections(self) -> list[CollectionMeta]:
        out = []
        for found in self._client.list_collections():
            coll = self._get(found if isinstance(found, str) else found.name)
            meta = coll.metadata or {}
            out.append(
                CollectionMeta(
                    coll.name, int(coll.count()), meta.get("embedding_model"), meta.get("dimension")
                )
            )
        return out

    def _get(self, name: str) -> Any:
        """An existing collection as it is, for reading or deleting (no model check)."""
        if name in self._open:
            return self._open[name]
        try:
            return self._client.get_collection(name, embedding_function=None)
        except Exception as exc:  # chromadb raises NotFoundError or ValueError by version
            raise NotFoundError(f"collection {name!r} does not exist yet") from exc

    def _existing(self, name: str) -> Any | None:
        try:
            return self._get(name)
        except NotFoundError:
            return None

    # -- writes -----------------------------------------------------------------
    def add(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: Any,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Add records in batches Chroma accepts.

        ``add``, not ``upsert``: upsert merges metadata into an existing record,
        so a replaced chunk could keep stale fields. Callers delete first.
        """
        coll = self._get(collection)
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            coll.add(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                documents=list(texts[start:end]),
                metadatas=list(metadatas[start:end]),
            )

    def delete_job(self, collection: str, job_id: str) -> None:
        coll = self._existing(collection)
        if coll is not None:
            coll.delete(where={"job_id": job_id})

    def delete_document(self, collection: str, source: str, *, keep_job: str | None = None) -> None:
        coll = self._existing(collection)
        if coll is None:
            return
        where: dict[str, Any] = {"source": source}
        if keep_job is not None:
            where = {"$and": [where, {"job_id": {"$ne": keep_job}}]}
        coll.delete(where=where)

    # -- reads ------------------------------------------------------------------
    def vectors_by_text(self, collection: str, job_ids: Sequence[str]) -> dict[str, Any]:
        """Read page by page, so a 1,000-page document's vectors come back in
        batches Chroma is comfortable with."""
        found: dict[str, Any] = {}
        for got in self._pages(collection, {"job_id": {"$in": list(job_ids)}}, ["embeddings"]):
            for text, vector in zip(got["documents"], got["embeddings"], strict=True):
                found[text_key(text or "")] = vector
        return found

    def _pages(
        self, collection: str, where: dict[str, Any] | None, include: list[str]
    ) -> Iterator[dict[str, Any]]:
        coll = self._get(collection)
        offset = 0
        while True:
            got = coll.get(
                where=where, include=["documents", *include], limit=self.max_batch, offset=offset
            )
            yield got
            if len(got["ids"]) < self.max_batch:
                return
            offset += self.max_batch

    def count(self, collection: str, job_id: str | None = None) -> int:
        coll = self._get(collection)
        if job_id is None:
            return int(coll.count())
        return len(coll.get(where={"job_id": job_id}, include=[])["ids"])

    def query(self, collection: str, vector: Any, k: int) -> list[Hit]:
        res = self._get(collection).query(
            query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances"]
        )
        rows = zip(
            res["ids"][0],
            res["documents"][0],
            res["metadatas"][0],
            res["distances"][0],
            strict=True,
        )
        return [
            Hit(
                rank=rank,
                score=round(1.0 - float(dist), 4),
                source=str((meta or {}).get("source", "")),
                page=_int((meta or {}).get("page")),
                job_id=str((meta or {}).get("job_id", "")),
                text=text or "",
                chunk_index=_int((meta or {}).get("chunk_index")),
                chunk_id=chunk_id,
                section=(meta or {}).get("section") or None,
            )
            for rank, (chunk_id, text, meta, dist) in enumerate(rows, start=1)
        ]

    def chunks(self, collection: str, job_id: str) -> list[StoredChunk]:
        got = self._get(collection).get(
            where={"job_id": job_id}, include=["documents", "metadatas"]
        )
        found = [
            StoredChunk(
                id=cid,
                index=int(meta.get("chunk_index", 0)),
                page=meta.get("page"),
                page_end=meta.get("page_end"),
                section=meta.get("section"),
                tokens=meta.get("tokens"),
                text=text or "",
            )
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]
        return sorted(found, key=lambda c: c.index)

    def records(self, collection: str, *, vectors: bool = False) -> Iterator[dict[str, Any]]:
        include = ["metadatas"] + (["embeddings"] if vectors else [])
        for got in self._pages(collection, None, include):
            for i, cid in enumerate(got["ids"]):
                record: dict[str, Any] = {
                    "id": cid,
                    "text": got["documents"][i],
                    "metadata": got["metadatas"][i],
                }
                if vectors:
                    record["embedding"] = [float(x) for x in got["embeddings"][i]]
                yield record


def _chromadb() -> tuple[Any, Any]:
    """The chromadb module and client settings that never phone home."""
    # Chroma reads this at import; set it before the import.
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb, ChromaSettings(anonymized_telemetry=False)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None
