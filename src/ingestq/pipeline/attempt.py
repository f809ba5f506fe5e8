"""One job attempt: get the document's text, chunk, embed, index.

Everything streams: pages are parsed one at a time (in a thread one batch ahead
of the model), chunks are embedded and written in batches, so a 1,000-page PDF
never holds all its text or vectors in memory. Between pages and batches the
attempt checks in with its :class:`Checkpoint`, which reports progress, renews
the lease and enforces the timeout and shutdown deadlines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import TYPE_CHECKING, Any

from ingestq.blobs import blob_path, store_bytes
from ingestq.chunking import Chunk
from ingestq.config import Settings
from ingestq.embedder import Embedder
from ingestq.errors import (
    BlobMissingError,
    JobInterrupted,
    JobTimeoutError,
    NoTextError,
    PermanentJobError,
)
from ingestq.jobs import Job
from ingestq.pdf import PdfDocument, open_pdf
from ingestq.resources import Resources
from ingestq.sources import Source
from ingestq.streams import prefetch
from ingestq.textclean import Page
from ingestq.topics import Digest
from ingestq.vectorstore import VectorStore, text_key

if TYPE_CHECKING:
    from ingestq.fetch import Fetcher

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
    _entered: float = 0.0  # when the current stage began
    spent: dict[str, float] = field(default_factory=dict)  # seconds per stage, all batches

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

    def finish(self) -> dict[str, float]:
        """Seconds spent in each stage, the current one closed now."""
        if self.stage:
            now = time.monotonic()
            self.spent[self.stage] = self.spent.get(self.stage, 0.0) + now - self._entered
            self._entered, self.stage = now, ""
        return {k: round(v, 4) for k, v in self.spent.items()}

    def __call__(self, stage: str, progress: float, vectors: int, pages: int | None = None) -> None:
        """Check the deadlines, then report progress (throttled) and renew the lease."""
        now = self.deadlines()
        if stage != self.stage:
            if self.stage:
                self.spent[self.stage] = self.spent.get(self.stage, 0.0) + now - self._entered
            self._entered = now
        if stage != self.stage or now - self._last >= REPORT_EVERY_S:
            self.stage, self._last = stage, now
            first = stage not in self._seen
            self._seen.add(stage)
            if not self.report(stage, progress, vectors, pages, first):
                raise JobInterrupted("the job is no longer leased to this worker")


@dataclass
class Outcome:
    """What an attempt produced, for the job's record."""

    vectors: int
    pages: int | None = None
    content_hash: str | None = None
    size_bytes: int | None = None
    title: str | None = None
    final_url: str | None = None
    reused: int = 0  # chunks whose stored vector was reused, not embedded again
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    topics: list[str] | None = None  # None: keep what the job has
    notes: list[tuple[str, str]] = field(default_factory=list)  # (event, message) to record
    unchanged: bool = False  # the source already holds this content: nothing was written
    removed: bool = False  # the source's chunks were deleted (a file gone from a sync)
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Context:
    """The worker's long-lived tools an attempt needs, and what it knows of the source."""

    settings: Settings
    tools: Resources  # loaded on first use: an unchanged page never needs the model
    previous: Source | None = None  # the source's current version, if any

    @property
    def embedder(self) -> Embedder:
        return self.tools.embedder

    @property
    def store(self) -> VectorStore:
        return self.tools.store

    @property
    def fetcher(self) -> Fetcher:
        return self.tools.fetcher


def chunk_id(job_id: str, index: int) -> str:
    # Deterministic: a re-run writes the same ids, never a second copy.
    return f"{job_id}:{index}"


def ingest(job: Job, ctx: Context, check: Checkpoint) -> Outcome:
    """Run one attempt of ``job``, whatever its kind."""
    if os.environ.get("INGESTQ_TEST_FAULT") == "bug-in-job":
        raise ZeroDivisionError("test-only fault: a bug in the pipeline")
    if job.kind == "url":
        return _ingest_url(job, ctx, check)
    if job.kind == "remove":
        # A document deleted from a synced directory: its chunks go, then its source.
        check("indexing", 0, 0)
        coll = ctx.store.collection(job.collection, ctx.embedder.name, ctx.embedder.dimension)
        ctx.store.delete_where(coll, {"source": job.source})
        return Outcome(0, removed=True)
    path = blob_path(ctx.settings.blobs_dir, job.content_hash or "")
    if not job.content_hash or not path.is_file():
        raise BlobMissingError("the stored copy of the file is missing from the blob store")
    doc = open_pdf(path)
    done = _index_pdf(job, doc, ctx, check, {})
    outcome = Outcome(done.vectors, doc.page_count, title=doc.title, reused=done.reused)
    return _with_topics(outcome, done, ctx, check)


def _ingest_url(job: Job, ctx: Context, check: Checkpoint) -> Outcome:
    check("fetching", 0, 0)
    prev = ctx.previous
    headers = {}
    if prev is not None and prev.etag:
        headers["If-None-Match"] = prev.etag
    if prev is not None and prev.last_modified:
        headers["If-Modified-Since"] = prev.last_modified
    got = ctx.fetcher.get(job.source, headers=headers)
    check.deadlines()
    fetched = Outcome(
        0,
        final_url=got.url,
        etag=got.headers.get("etag"),
        last_modified=got.headers.get("last-modified"),
    )
    if prev is not None and (got.status == 304 or _digest(got.body) == prev.content_hash):
        # Unchanged: the chunks the source already has stay; nothing to embed.
        return replace(fetched, content_hash=prev.content_hash, unchanged=True)
    digest, size = store_bytes(ctx.settings.blobs_dir, got.body)
    job.content_hash = digest  # chunk metadata names the version it came from
    fetched = replace(fetched, content_hash=digest, size_bytes=size)
    media = got.content_type or _sniff(got.body)
    if media == "application/pdf":
        doc = open_pdf(blob_path(ctx.settings.blobs_dir, digest))
        base = {"final_url": got.url, "title": doc.title or ""}
        done = _index_pdf(job, doc, ctx, check, base)
        fetched = _with_topics(fetched, done, ctx, check, doc.title or job.source)
        return replace(
            fetched, vectors=done.vectors, reused=done.reused, pages=doc.page_count, title=doc.title
        )
    return _index_webpage(job, got, media, ctx, check, fetched)


def _index_webpage(
    job: Job, got: Any, media: str, ctx: Context, check: Checkpoint, fetched: Outcome
) -> Outcome:
    # Imported here: trafilatura and lxml cost a second, and only pages need them.
    from ingestq import webpage

    if media not in webpage.HTML_TYPES | webpage.TEXT_TYPES:
        raise PermanentJobError(f"unsupported content type {media or '(none)'}")
    page = webpage.parse(got.body, media, got.charset, got.url)
    if not any(s.text for s in page.sections):
        raise NoTextError("the page has no text")
    base = {"final_url": got.url, "title": page.title or ""}
    sections = page.sections
    units = (
        Page(i + 1, f"{s.heading}\n{s.text}" if s.heading else s.text)
        for i, s in enumerate(sections)
    )

    def meta(chunk: Chunk) -> dict[str, Any]:
        return base | {"section": sections[chunk.page_start - 1].heading or ""}

    done = _index(job, units, len(sections), ctx, check, meta, pages=False)
    fetched = _with_topics(fetched, done, ctx, check, page.title or job.source)
    return replace(fetched, vectors=done.vectors, reused=done.reused, title=page.title)


def _with_topics(
    outcome: Outcome, done: Indexed, ctx: Context, check: Checkpoint, title: str = ""
) -> Outcome:
    from ingestq.topics import choose

    check("topics", 99, done.vectors)
    topics, note = choose(
        done.digest, ctx.embedder, ctx.settings.llm_model, title or outcome.title or ""
    )
    return replace(outcome, topics=topics, notes=[("topics_fallback", note)] if note else [])


def _digest(body: bytes) -> str:
    import hashlib

    return hashlib.sha256(body).hexdigest()


def _sniff(body: bytes) -> str:
    head = body[:1024].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return "application/pdf"
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    return ""


def _index_pdf(
    job: Job, doc: PdfDocument, ctx: Context, check: Checkpoint, base: dict[str, Any]
) -> Indexed:
    def pages() -> Iterator[Page]:
        # Runs in the prefetch thread: it may only check deadlines, not write
        # to the state database (that connection belongs to the worker thread).
        for page in doc.pages():
            check.deadlines()
            yield page

    done = _index(job, pages(), doc.page_count, ctx, check, lambda c: base, pages=True)
    if done.vectors == 0:
        raise NoTextError(
            "the PDF has no extractable text (image-only or scanned?); OCR is not supported"
        )
    return done


@dataclass
class Indexed:
    """What writing a document's chunks came to."""

    vectors: int = 0
    reused: int = 0  # chunks whose vector came from the source's previous version
    digest: Digest = field(default_factory=Digest)  # for the document's topics


def _index(
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
    coll = store.collection(job.collection, embedder.name, embedder.dimension)
    known = store.vectors_by_text(coll, _reusable(job, ctx))
    # A previous attempt may have died half way: start from a clean slate
    # (its vectors are in ``known``, so the work it did is not lost).
    store.delete_where(coll, {"job_id": job.id})
    chunker = embedder.chunker(job.options.get("chunk_tokens"), job.options.get("chunk_overlap"))
    batch_size = ctx.settings.embed_batch_size
    chunks = prefetch(chunker.chunks(units), ahead=2 * batch_size)
    check("parsing", 0, 0, total if pages else None)
    done = Indexed()
    while batch := list(islice(chunks, batch_size)):
        progress = 99 * batch[-1].page_end / max(total, 1)
        check("embedding", progress, done.vectors)
        texts = [c.text for c in batch]
        matrix, reused = _vectors(texts, known, embedder, batch_size)
        check("indexing", progress, done.vectors)
        metas = [_metadata(job, c, pages) | extra(c) for c in batch]
        store.add(coll, [chunk_id(job.id, c.index) for c in batch], matrix, texts, metas)
        done.digest.feed(texts, matrix)
        done.vectors += len(batch)
        done.reused += reused
    return done


def _reusable(job: Job, ctx: Context) -> list[str]:
    """Jobs whose stored vectors this attempt may reuse: the source's current
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
