"""What the store holds: collections, a job's chunks, exports, and removing jobs.

These read the vector store directly but never load the model: the store keeps
the text and vectors, and listing them needs nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ingestq.config import Settings
from ingestq.errors import ConflictError, NotFoundError
from ingestq.pipeline.chunks import ChunkIndex
from ingestq.state import jobs, open_state, retention, versions
from ingestq.state.jobs import PROCESSING, Job
from ingestq.store import open_blob_store, open_vector_store
from ingestq.store.vectors import StoredChunk


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    documents: int  # documents whose chunks are in it
    chunks: int
    model: str | None
    dimension: int | None


def list_collections(settings: Settings) -> list[CollectionInfo]:
    """Every collection, with its document and chunk counts and its embedding model."""
    db = open_state(settings)
    try:
        docs = versions.documents_per_collection(db)
    finally:
        db.close()
    try:
        found = open_vector_store(settings, create=False).collections()
    except NotFoundError:  # an embedded home that never stored a vector
        return []
    out = [
        CollectionInfo(c.name, docs.get(c.name, 0), c.chunks, c.model, c.dimension) for c in found
    ]
    return sorted(out, key=lambda c: c.name)


def job_chunks(settings: Settings, job_id: str) -> tuple[Job, list[StoredChunk]]:
    """The job and its stored chunks, in order."""
    db = open_state(settings)
    try:
        job = jobs.get_job(db, job_id)
    finally:
        db.close()
    store = open_vector_store(settings, create=False)
    return job, store.chunks(job.collection, job.id)


def export(
    settings: Settings, collection: str, *, vectors: bool = False
) -> Iterator[dict[str, Any]]:
    """One record per chunk of ``collection``: id, text, metadata (and embedding)."""
    return open_vector_store(settings, create=False).records(collection, vectors=vectors)


def remove_jobs(
    settings: Settings, job_ids: Sequence[str], *, owner: str | None = None
) -> list[Job]:
    """Delete jobs with their chunks, blobs (unless shared), events and callbacks.

    With ``owner``, another owner's job is not found.
    """
    db = open_state(settings)
    try:
        doomed = [jobs.get_job(db, job_id, owner=owner) for job_id in job_ids]
        for job in doomed:
            if job.state == PROCESSING:
                raise ConflictError(f"job {job.id} is processing: `ingestq cancel` it first")
        if any(job.vector_count for job in doomed):
            chunks = ChunkIndex(open_vector_store(settings, create=False), db)
            for job in doomed:
                chunks.delete_job(job.collection, job.id)
        retention.delete_jobs(db, doomed)
        blobs = open_blob_store(settings, db)
        for job in doomed:
            if job.content_hash and not retention.digest_in_use(db, job.content_hash):
                blobs.delete(job.content_hash)
    finally:
        db.close()
    return doomed
