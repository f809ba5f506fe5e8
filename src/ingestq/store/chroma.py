"""The vector store on Chroma: one Chroma collection per ingestq collection.

We always hand Chroma our own vectors, for writes and for queries, and open
collections with ``embedding_function=None``. Left to itself Chroma attaches its
default embedding function, which downloads a model at first use; on a machine
without internet that fails, and elsewhere it would silently mix two models.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ingestq.errors import IngestqError, ModelMismatchError, NotFoundError, StoreError
from ingestq.home import make_private
from ingestq.store.chroma_server import Retrier, ServerConfig, chroma_module, connect
from ingestq.store.vectors import CollectionMeta, Hit, StoredChunk, text_key

log = logging.getLogger(__name__)

T = TypeVar("T")

#: HNSW's ``ef_search`` (candidates a query keeps) for ingestq's collections. Chroma's
#: default, 100, kept recall@10 against exact search at 1.000 up to 300,000 chunks but
#: let it fall to 0.9745-0.9775 at 1,000,000, some queries finding none of their ten;
#: 200 gave 0.9945 there for about 1 ms more a query (benchmarks/bigstore.py; goal 0.98).
EF_SEARCH = 200


class ChromaStore:
    """A :class:`~ingestq.store.vectors.VectorStore` on a Chroma client: embedded
    (:meth:`embedded`) or a Chroma server (:meth:`server`).

    On a server every call goes through a :class:`~ingestq.store.chroma_server.Retrier`:
    a restart of the server costs a few seconds, not a job.
    """

    def __init__(self, client: Any, where: str, retry: Retrier | None = None) -> None:
        self._client = client
        self.where = where
        self._retry = retry
        try:
            self.max_batch = int(self._do(self._client.get_max_batch_size))
        except IngestqError:
            raise
        except Exception as exc:  # chromadb's errors have no common base
            raise StoreError(f"the vector store ({where}) cannot be used: {_short(exc)}") from exc
        self._open: dict[str, Any] = {}  # collections checked for their model, by name

    @classmethod
    def embedded(cls, path: Path) -> ChromaStore:
        """Chroma's persistent client on ``path``: one writing process at a time."""
        chromadb, settings = chroma_module()
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            client = chromadb.PersistentClient(path=str(path), settings=settings)
        except Exception as exc:
            raise StoreError(f"the vector store ({path}) cannot be used: {_short(exc)}") from exc
        store = cls(client, str(path))
        make_private(path / "chroma.sqlite3")
        return store

    @classmethod
    def server(
        cls,
        url: str,
        token: str | None,
        tenant: str,
        database: str,
        *,
        token_header: str = "Authorization",
        retry_s: float = 60.0,
    ) -> ChromaStore:
        """A Chroma server's HTTP client; the database is created on first use.

        A :class:`~ingestq.errors.ConfigError` (one line) if the server cannot be
        reached, refuses the token, or has no such tenant.
        """
        cfg = ServerConfig(url, token, token_header, tenant, database, retry_s)
        client, retry = connect(cfg)
        return cls(client, cfg.where, retry)

    def _do(self, call: Callable[[], T], again: Callable[[], T] | None = None) -> T:
        """``call()``, tried again (as ``again()``) while a server is out of reach."""
        return call() if self._retry is None else self._retry(call, again)

    # -- collections ------------------------------------------------------------
    def ensure_collection(self, name: str, model: str, dimension: int) -> None:
        coll = self._open.get(name) or self._do(lambda: self._get_or_create(name, model, dimension))
        meta = coll.metadata or {}
        if meta.get("embedding_model") != model or meta.get("dimension") != dimension:
            raise ModelMismatchError(
                f"collection {name!r} {self._at()}was built with {_built(meta)},"
                f" not {model!r} ({dimension} dims); use the same model"
                " (INGESTQ_MODEL or INGESTQ_EMBEDDER) or another collection"
            )
        if name not in self._open:
            # Once per process: the handle's configuration is not refreshed by modify,
            # so checking it again would modify again for every job.
            self._raise_ef_search(coll)
        self._open[name] = coll

    def _raise_ef_search(self, coll: Any) -> None:
        """Give a collection made before :data:`EF_SEARCH` (or by Chroma's default) ours.

        Only writers (workers) call this, the first time a process opens the
        collection; Chroma stores the setting with it, so searches need not.
        """
        hnsw = (getattr(coll, "configuration_json", None) or {}).get("hnsw") or {}
        if int(hnsw.get("ef_search") or 0) < EF_SEARCH:
            self._do(lambda: coll.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}}))

    def _get_or_create(self, name: str, model: str, dimension: int) -> Any:
        try:
            return self._client.get_or_create_collection(
                name,
                configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}},
                metadata={"embedding_model": model, "dimension": dimension},
                embedding_function=None,
            )
        except Exception as exc:
            from chromadb.errors import UniqueConstraintError

            # Two workers creating it at once: the loser may hear "already
            # exists". It exists, which is what we asked; its model is checked next.
            if isinstance(exc, UniqueConstraintError) or "already exists" in str(exc):
                return self._client.get_collection(name, embedding_function=None)
            raise

    def check_collection(self, name: str, model: str) -> None:
        meta = self._get(name).metadata or {}
        if meta.get("embedding_model") != model:
            raise ModelMismatchError(
                f"collection {name!r} {self._at()}was built with {_built(meta)}, not"
                f" {model!r}; search it with the model that built it (INGESTQ_MODEL"
                " or INGESTQ_EMBEDDER)"
            )

    def _at(self) -> str:
        return f"on the Chroma server at {self.where} " if self._retry is not None else ""

    def collections(self) -> list[CollectionMeta]:
        out = []
        for found in self._do(self._client.list_collections):
            coll = self._get(found if isinstance(found, str) else found.name)
            meta = coll.metadata or {}
            out.append(
                CollectionMeta(
                    coll.name,
                    int(self._do(coll.count)),
                    meta.get("embedding_model"),
                    meta.get("dimension"),
                )
            )
        return out

    def _get(self, name: str) -> Any:
        """An existing collection as it is, for reading or deleting (no model check)."""
        if name in self._open:
            return self._open[name]
        try:
            return self._do(lambda: self._client.get_collection(name, embedding_function=None))
        except IngestqError:
            raise  # the server is out of reach or refuses us: nothing said about the collection
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
        A batch tried again (the server went away, perhaps after it had written
        it) is upserted: the same ids with the same fields, so never twice.
        """
        coll = self._get(collection)
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            batch = {
                "ids": list(ids[start:end]),
                "embeddings": vectors[start:end],
                "documents": list(texts[start:end]),
                "metadatas": list(metadatas[start:end]),
            }
            self._do(partial(coll.add, **batch), partial(coll.upsert, **batch))

    def delete_job(self, collection: str, job_id: str) -> None:
        coll = self._existing(collection)
        if coll is not None:
            self._do(lambda: coll.delete(where={"job_id": job_id}))

    def delete_document(self, collection: str, source: str, *, keep_job: str | None = None) -> None:
        coll = self._existing(collection)
        if coll is None:
            return
        where: dict[str, Any] = {"source": source}
        if keep_job is not None:
            where = {"$and": [where, {"job_id": {"$ne": keep_job}}]}
        self._do(lambda: coll.delete(where=where))

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
            got: dict[str, Any] = self._do(
                partial(
                    coll.get,
                    where=where,
                    include=["documents", *include],
                    limit=self.max_batch,
                    offset=offset,
                )
            )
            yield got
            if len(got["ids"]) < self.max_batch:
                return
            offset += self.max_batch

    def count(self, collection: str, job_id: str | None = None) -> int:
        coll = self._get(collection)
        if job_id is None:
            return int(self._do(coll.count))
        return len(self._do(lambda: coll.get(where={"job_id": job_id}, include=[]))["ids"])

    def query(self, collection: str, vector: Any, k: int) -> list[Hit]:
        coll = self._get(collection)
        res = self._do(
            lambda: coll.query(
                query_embeddings=[vector],
                n_results=k,
                include=["documents", "metadatas", "distances"],
            )
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
        coll = self._get(collection)
        got = self._do(
            lambda: coll.get(where={"job_id": job_id}, include=["documents", "metadatas"])
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


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _built(meta: dict[str, Any]) -> str:
    """What a collection's metadata says built it, for a refusal."""
    if meta.get("embedding_model") is None:
        return "no recorded model (it was not made by ingestq)"
    return f"{meta.get('embedding_model')!r} ({meta.get('dimension')} dims)"


def release_embedded(path: Path) -> None:
    """Stop this process's embedded client on ``path``, so the next one reads the files
    again: a client keeps its index in memory and never sees what other processes
    (the worker) wrote since it opened."""
    if "chromadb" not in sys.modules:
        return
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)
    if system is not None:
        system.stop()
