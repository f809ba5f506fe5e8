"""What the store holds: collections, a job's chunks, exports, and removing jobs.

These read Chroma directly (so they import it) but never load the model: the
store keeps the text and vectors, and listing them needs nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ingestq import sources
from ingestq.blobs import blob_path
from ingestq.config import Settings
from ingestq.db import connect, transaction
from ingestq.errors import NotFoundError, StateError
from ingestq.jobs import PROCESSING, Job, get_job
from ingestq.vectorstore import VectorStore


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    documents: int  # sources whose chunks are in it
    chunks: int
    model: str | None
    dimension: int | None


@dataclass(frozen=True)
class StoredChunk:
    id: str
    index: int
    page: int | None
    page_end: int | None
    section: str | None
    tokens: int | None
    text: str


def _store(settings: Settings) -> VectorStore:
    if not settings.chroma_dir.exists():
        raise NotFoundError("nothing has been ingested yet: run `ingestq add` and a worker")
    return VectorStore(settings.chroma_dir)


def list_collections(settings: Settings) -> list[CollectionInfo]:
    """Every collection, with its document and chunk counts and its embedding model."""
    conn = connect(settings.state_db)
    try:
        docs = dict(conn.execute("SELECT collection, count(*) FROM sources GROUP BY collection"))
    finally:
        conn.close()
    if not settings.chroma_dir.exists():
        return []
    out = []
    for coll in VectorStore(settings.chroma_dir).all_collections():
        meta = coll.metadata or {}
        out.append(
            CollectionInfo(
                coll.name,
                int(docs.get(coll.name, 0)),
                int(coll.count()),
                meta.get("embedding_model"),
                meta.get("dimension"),
            )
        )
    return sorted(out, key=lambda c: c.name)


def job_chunks(settings: Settings, job_id: str) -> tuple[Job, list[StoredChunk]]:
    """The job and its stored chunks, in order."""
    conn = connect(settings.state_db)
    try:
        job = get_job(conn, job_id)
    finally:
        conn.close()
    store = _store(settings)
    coll = store.get_collection(job.collection)
    got = coll.get(where={"job_id": job.id}, include=["documents", "metadatas"])
    chunks = [
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
    return job, sorted(chunks, key=lambda c: c.index)


def export(
    settings: Settings, collection: str, *, vectors: bool = False
) -> Iterator[dict[str, Any]]:
    """One record per chunk of ``collection``: id, text, metadata (and embedding)."""
    store = _store(settings)
    coll = store.get_collection(collection)
    include = ["documents", "metadatas"] + (["embeddings"] if vectors else [])
    offset = 0
    while True:
        got = coll.get(include=include, limit=store.max_batch, offset=offset)
        for i, cid in enumerate(got["ids"]):
            record: dict[str, Any] = {
                "id": cid,
                "text": got["documents"][i],
                "metadata": got["metadatas"][i],
            }
            if vectors:
                record["embedding"] = [float(x) for x in got["embeddings"][i]]
            yield record
        if len(got["ids"]) < store.max_batch:
            return
        offset += store.max_batch


def remove_jobs(settings: Settings, job_ids: Sequence[str]) -> list[Job]:
    """Delete jobs with their chunks, blobs (unless shared), events and callbacks."""
    conn = connect(settings.state_db)
    try:
        doomed = [get_job(conn, job_id) for job_id in job_ids]
        for job in doomed:
            if job.state == PROCESSING:
                raise StateError(f"job {job.id} is processing: `ingestq cancel` it first")
        if any(job.vector_count for job in doomed):
            store = _store(settings)
            for job in doomed:
                store.delete_where(store.get_collection(job.collection), {"job_id": job.id})
        with transaction(conn):
            for job in doomed:
                _forget(conn, job)
        for job in doomed:
            _drop_blob(conn, settings, job)
    finally:
        conn.close()
    return doomed


def _forget(conn: Any, job: Job) -> None:
    current = sources.get(conn, job.collection, job.kind, job.source)
    if current is not None and current.job_id == job.id:
        sources.forget(conn, job.collection, job.kind, job.source)
    for table in ("events", "callbacks"):
        conn.execute(f"DELETE FROM {table} WHERE job_id = ?", (job.id,))
    conn.execute("DELETE FROM jobs WHERE id = ?", (job.id,))


def _drop_blob(conn: Any, settings: Settings, job: Job) -> None:
    if not job.content_hash:
        return
    shared = conn.execute(
        "SELECT 1 FROM jobs WHERE content_hash = ? UNION SELECT 1 FROM sources"
        " WHERE content_hash = ? LIMIT 1",
        (job.content_hash, job.content_hash),
    ).fetchone()
    if not shared:
        blob_path(settings.blobs_dir, job.content_hash).unlink(missing_ok=True)
