"""Chunk, embed and write a document's pages (or a page's sections) into the store.

Everything streams: pages are parsed one at a time (in a thread one batch ahead
of the model), chunks are embedded and written in batches, so a 1,000-page PDF
never holds all its text or vectors in memory. A chunk whose exact text the
document's previous version (or an earlier attempt) already embedded reuses
that vector instead of running the model again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ingestq.embed.base import Embedder
from ingestq.embed.chunking import Chunk
from ingestq.errors import NoTextError
from ingestq.pipeline.checkpoint import Checkpoint
from ingestq.pipeline.context import Context
from ingestq.pipeline.prefetch import prefetch
from ingestq.pipeline.topics import Digest
from ingestq.readers.sandbox import ParsedPdf
from ingestq.readers.textclean import Page
from ingestq.state.jobs import Job
from ingestq.store.vectors import text_key

#: Chunks a job embeds and writes at a time, at least: each write to the store
#: costs a round trip (a Chroma server's HTTP call), so a job does not write in
#: the CPU's small model batches; the embedding loop cuts a step into those.
STEP = 64


def chunk_id(job_id: str, index: int) -> str:
    # Deterministic: a re-run writes the same ids, never a second copy.
    return f"{job_id}:{index}"


@dataclass
class Indexed:
    """What writing a document's chunks came to."""

    vectors: int = 0
    reused: int = 0  # chunks whose vector came from the document's previous version
    digest: Digest = field(default_factory=Digest)  # for the document's topics


def index_pdf(
    job: Job, doc: ParsedPdf, ctx: Context, check: Checkpoint, base: dict[str, Any]
) -> Indexed:
    """Index every page of ``doc``; :class:`NoTextError` if none has text."""

    def pages() -> Iterator[Page]:
        # Runs in the prefetch thread: it may only check deadlines, not write
        # to the state database.
        for page in doc.pages:
            check.deadlines()
            yield page

    done = index_units(job, pages(), doc.page_count, ctx, check, lambda c: base, pages=True)
    if done.vectors == 0:
        raise NoTextError(
            "the PDF has no extractable text (image-only or scanned?); OCR is not supported"
        )
    return done


def index_units(
    job: Job,
    units: Iterator[Page],
    total: int,
    ctx: Context,
    check: Checkpoint,
    extra: Callable[[Chunk], dict[str, Any]],
    *,
    pages: bool,
) -> Indexed:
    """Chunk, embed and write ``units`` (pages or sections)."""
    embedder, store = ctx.embedder, ctx.store
    store.ensure_collection(job.collection, embedder.name, embedder.dimension)
    known = store.vectors_by_text(job.collection, _reusable(job, ctx))
    # A previous attempt may have died half way: start from a clean slate
    # (its vectors are in ``known``, so the work it did is not lost).
    ctx.chunks.delete_job(job.collection, job.id)
    chunker = embedder.chunker(job.options.get("chunk_tokens"), job.options.get("chunk_overlap"))
    batch_size = ctx.settings.embed_batch_size
    step = max(STEP, batch_size)
    chunks = prefetch(chunker.chunks(units), ahead=2 * step)
    check("parsing", 0, 0, total if pages else None)
    done = Indexed()
    while batch := list(islice(chunks, step)):
        progress = 99 * batch[-1].page_end / max(total, 1)
        check("embedding", progress, done.vectors)
        texts = [c.text for c in batch]
        matrix, reused = _vectors(texts, known, embedder, batch_size)
        check("indexing", progress, done.vectors)
        metas = [_metadata(job, c, pages) | extra(c) for c in batch]
        ids = [chunk_id(job.id, c.index) for c in batch]
        ctx.chunks.add(job.collection, ids, matrix, texts, metas)
        done.digest.feed(texts, matrix)
        done.vectors += len(batch)
        done.reused += reused
    return done


def _reusable(job: Job, ctx: Context) -> list[str]:
    """Jobs whose stored vectors this attempt may reuse: the document's current
    version and an earlier attempt of this very job."""
    prev = ctx.previous
    return [job.id] if prev is None or prev.job_id == job.id else [job.id, prev.job_id]


def _vectors(
    texts: list[str], known: dict[str, Any], embedder: Embedder, batch_size: int
) -> tuple[Any, int]:
    """One vector per text, reusing ``known`` ones; return them and how many were reused."""
    import numpy as np

    # The same text always embeds to the same vector, wherever the chunk sits;
    # keyed by text alone, so no volatile metadata can make a chunk look new.
    found = [known.get(text_key(t)) for t in texts]
    todo = [i for i, vector in enumerate(found) if vector is None]
    matrix = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    if todo:
        matrix[todo] = embedder.encode([texts[i] for i in todo], batch_size)
    for i, vector in enumerate(found):
        if vector is not None:
            matrix[i] = vector
    return matrix, len(texts) - len(todo)


def _metadata(job: Job, chunk: Chunk, pages: bool) -> dict[str, Any]:
    # Only stable facts: volatile values (times, attempts) would make identical
    # chunks look changed.
    meta: dict[str, Any] = {
        "job_id": job.id,
        "source": job.source,
        "kind": job.kind,
        "chunk_index": chunk.index,
        "tokens": chunk.tokens,
        "content_hash": job.content_hash or "",
    }
    if pages:
        meta |= {"page": chunk.page_start, "page_end": chunk.page_end}
    return meta
