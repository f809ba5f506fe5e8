"""One job attempt: get the document's text, chunk, embed, index, pick topics.

A file was copied into the blob store at ``add``; a URL is fetched here, with a
conditional GET when the document has a current version. Either way the
result is an :class:`~ingestq.state.lifecycle.Outcome` for the job's record,
or an exception that says whether a retry could help.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from ingestq.embed.chunking import Chunk
from ingestq.errors import NoTextError, PermanentJobError
from ingestq.pipeline.checkpoint import Checkpoint
from ingestq.pipeline.context import Context
from ingestq.pipeline.index import Indexed, index_pdf, index_units
from ingestq.readers.fetch import Fetched
from ingestq.readers.textclean import Page
from ingestq.state.jobs import Job
from ingestq.state.lifecycle import Outcome
from ingestq.store.blobs import put_bytes


def ingest(job: Job, ctx: Context, check: Checkpoint) -> Outcome:
    """Run one attempt of ``job``, whatever its kind."""
    if job.kind == "url":
        return _ingest_url(job, ctx, check)
    if job.kind == "remove":
        # A document deleted from a synced directory: its chunks go, then its version.
        check("indexing", 0, 0)
        ctx.chunks.delete_document(job.collection, job.source)
        return Outcome(0, removed=True)
    with ctx.blobs.local_path(job.content_hash or "") as path, ctx.parsers.lease() as parser:
        doc = parser.pdf(path, check.stop)
        done = index_pdf(job, doc, ctx, check, {})
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
    got = ctx.fetcher.get(job.source, headers=headers, stop=check.stop)
    check.deadlines()
    fetched = Outcome(
        0,
        final_url=got.url,
        etag=got.headers.get("etag"),
        last_modified=got.headers.get("last-modified"),
    )
    if prev is not None and (got.status == 304 or _digest(got.body) == prev.content_hash):
        # Unchanged: the chunks the document already has stay; nothing to embed.
        return replace(fetched, content_hash=prev.content_hash, unchanged=True)
    digest, size = put_bytes(ctx.blobs, got.body)
    job.content_hash = digest  # chunk metadata names the version it came from
    fetched = replace(fetched, content_hash=digest, size_bytes=size)
    media = got.content_type or _sniff(got.body)
    if media == "application/pdf":
        return _index_fetched_pdf(job, got, ctx, check, fetched)
    return _index_webpage(job, got, media, ctx, check, fetched)


def _index_fetched_pdf(
    job: Job, got: Fetched, ctx: Context, check: Checkpoint, fetched: Outcome
) -> Outcome:
    with ctx.blobs.local_path(fetched.content_hash or "") as path, ctx.parsers.lease() as parser:
        doc = parser.pdf(path, check.stop)
        done = index_pdf(job, doc, ctx, check, {"final_url": got.url, "title": doc.title or ""})
    fetched = _with_topics(fetched, done, ctx, check, doc.title or job.source)
    return replace(
        fetched, vectors=done.vectors, reused=done.reused, pages=doc.page_count, title=doc.title
    )


def _index_webpage(
    job: Job, got: Fetched, media: str, ctx: Context, check: Checkpoint, fetched: Outcome
) -> Outcome:
    # Imported here: trafilatura and lxml cost a second, and only pages need them.
    from ingestq.readers import webpage

    if media not in webpage.HTML_TYPES | webpage.TEXT_TYPES:
        raise PermanentJobError(f"unsupported content type {media or '(none)'}")
    with ctx.parsers.lease() as parser:
        page = parser.web(got.body, media, got.charset, got.url, check.stop)
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

    done = index_units(job, units, len(sections), ctx, check, meta, pages=False)
    fetched = _with_topics(fetched, done, ctx, check, page.title or job.source)
    return replace(fetched, vectors=done.vectors, reused=done.reused, title=page.title)


def _with_topics(
    outcome: Outcome, done: Indexed, ctx: Context, check: Checkpoint, title: str = ""
) -> Outcome:
    from ingestq.pipeline.topics import choose

    check("topics", 99, done.vectors)
    topics, note = choose(
        done.digest, ctx.embedder, ctx.settings.llm_model, title or outcome.title or ""
    )
    return replace(outcome, topics=topics, notes=[("topics_fallback", note)] if note else [])


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _sniff(body: bytes) -> str:
    head = body[:1024].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return "application/pdf"
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    return ""
