"""The PDF pipeline of one job attempt: parse, chunk, embed, index.

Everything streams: pages are parsed one at a time, chunks are embedded and
written in batches, so a 1,000-page PDF never holds all its text or vectors in
memory. Between pages and batches the attempt checks in with its
:class:`Checkpoint`, which reports progress, renews the lease and enforces the
timeout and shutdown deadlines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ingestq.blobs import blob_path
from ingestq.chunking import Chunk
from ingestq.config import Settings
from ingestq.embedder import Embedder
from ingestq.errors import BlobMissingError, JobInterrupted, JobTimeoutError, NoTextError
from ingestq.jobs import Job
from ingestq.pdf import open_pdf
from ingestq.streams import prefetch
from ingestq.textclean import Page
from ingestq.vectorstore import VectorStore

#: Progress goes to the state database at most this often, except on stage changes.
REPORT_EVERY_S = 0.5

Reporter = Callable[[str, float, int, "int | None", bool], bool]


@dataclass
class Checkpoint:
    """Where an attempt checks its deadlines and reports progress."""

    report: Reporter  # (stage, progress, vectors, pages, first time in stage) -> still ours?
    timeout_s: float
    stop_at: Callable[[], float | None]  # monotonic shutdown deadline, if any
    started: float = 0.0
    stage: str = ""
    _last: float = 0.0
    _seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.started = self._last = time.monotonic()

    def deadlines(self) -> float:
        """Raise if the attempt is past its timeout or the worker's shutdown; return now."""
        now = time.monotonic()
        if now - self.started > self.timeout_s:
            raise JobTimeoutError(f"timed out after {self.timeout_s:g} s")
        deadline = self.stop_at()
        if deadline is not None and now >= deadline:
            raise JobInterrupted("the worker is shutting down")
        return now

    def __call__(self, stage: str, progress: float, vectors: int, pages: int | None = None) -> None:
        """Check the deadlines, then report progress (throttled) and renew the lease."""
        now = self.deadlines()
        if stage != self.stage or now - self._last >= REPORT_EVERY_S:
            self.stage, self._last = stage, now
            first = stage not in self._seen
            self._seen.add(stage)
            if not self.report(stage, progress, vectors, pages, first):
                raise JobInterrupted("the job is no longer leased to this worker")


def chunk_id(job_id: str, index: int) -> str:
    # Deterministic: a re-run writes the same ids, never a second copy.
    return f"{job_id}:{index}"


def ingest_pdf(
    job: Job, settings: Settings, embedder: Embedder, store: VectorStore, check: Checkpoint
) -> tuple[int, int]:
    """Run one attempt of ``job``; return (vectors written, pages)."""
    path = blob_path(settings.blobs_dir, job.content_hash or "")
    if not job.content_hash or not path.is_file():
        raise BlobMissingError("the stored copy of the file is missing from the blob store")
    doc = open_pdf(path)
    total = max(doc.page_count, 1)
    coll = store.collection(job.collection, embedder.name, embedder.dimension)
    # A previous attempt may have died half way: start from a clean slate.
    store.delete_where(coll, {"job_id": job.id})
    chunker = embedder.chunker(job.options.get("chunk_tokens"), job.options.get("chunk_overlap"))
    vectors = 0

    def parsed() -> Iterator[Page]:
        # Runs in the prefetch thread: it may only check deadlines, not write
        # to the state database (that connection belongs to the worker thread).
        for page in doc.pages():
            check.deadlines()
            yield page

    batch_size = settings.embed_batch_size
    chunks = prefetch(chunker.chunks(parsed()), ahead=2 * batch_size)
    check("parsing", 0, 0, doc.page_count)
    while batch := list(islice(chunks, batch_size)):
        done = 100 * batch[-1].page_end / total
        check("embedding", done * 0.99, vectors)
        matrix = embedder.encode([c.text for c in batch], batch_size)
        check("indexing", done * 0.99, vectors)
        store.add(
            coll,
            [chunk_id(job.id, c.index) for c in batch],
            matrix,
            [c.text for c in batch],
            [_metadata(job, c) for c in batch],
        )
        vectors += len(batch)
    if vectors == 0:
        raise NoTextError(
            "the PDF has no extractable text (image-only or scanned?); OCR is not supported"
        )
    return vectors, doc.page_count


def _metadata(job: Job, chunk: Chunk) -> dict[str, Any]:
    # Only stable facts: volatile values (times, attempts) would make identical
    # chunks look changed.
    return {
        "job_id": job.id,
        "source": job.source,
        "kind": job.kind,
        "page": chunk.page_start,
        "page_end": chunk.page_end,
        "chunk_index": chunk.index,
        "content_hash": job.content_hash or "",
    }
