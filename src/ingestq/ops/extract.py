"""``extract``: the clean text ingestq would chunk, without ingesting anything."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingestq.config import Settings
from ingestq.errors import JobTimeoutError, PermanentJobError, UsageError
from ingestq.ops.files import check_pdf
from ingestq.readers.sandbox import Parser, ParserPool
from ingestq.readers.urls import check_url, normalize_url


@dataclass
class Extracted:
    title: str | None
    pages: list[dict[str, object]] = field(default_factory=list)


@dataclass
class ExtractedPage:
    """A web page as ingestq would chunk it."""

    title: str | None
    final_url: str
    text: str
    sections: list[dict[str, object]] = field(default_factory=list)


def extract_url(settings: Settings, url: str) -> Extracted | ExtractedPage:
    """Fetch ``url`` under the worker's rules and return its clean text, or raise its error."""
    from ingestq.readers import webpage
    from ingestq.readers.fetch import Fetcher

    if problem := check_url(url):
        raise UsageError(problem)
    fetcher = Fetcher(settings)
    try:
        got = fetcher.get(normalize_url(url), stop=_deadline(settings))
    finally:
        fetcher.close()
    if (got.content_type or "") == "application/pdf" or got.body[:5] == b"%PDF-":
        with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
            tmp.write(got.body)
            tmp.flush()
            return _extract_pdf(settings, Path(tmp.name))
    if got.content_type not in webpage.HTML_TYPES | webpage.TEXT_TYPES:
        raise PermanentJobError(f"unsupported content type {got.content_type or '(none)'}")
    with _parser(settings) as parser:
        page = parser.web(got.body, got.content_type, got.charset, got.url, _deadline(settings))
    return ExtractedPage(
        title=page.title,
        final_url=got.url,
        text=page.text,
        sections=[{"heading": s.heading, "text": s.text} for s in page.sections],
    )


def extract(settings: Settings, path: Path) -> Extracted:
    """Every page's cleaned text. Fails like the worker would on the same file."""
    if problem := check_pdf(path, settings.max_file_bytes):
        raise UsageError(problem)
    return _extract_pdf(settings, path)


def _extract_pdf(settings: Settings, path: Path) -> Extracted:
    with _parser(settings) as parser:
        doc = parser.pdf(path, _deadline(settings))
        pages = [{"page": p.number, "text": p.text} for p in doc.pages]
    title = doc.title or next(
        (line for p in pages for line in str(p["text"]).split("\n") if line.strip()), None
    )
    return Extracted(title=title, pages=pages)


@contextmanager
def _parser(settings: Settings) -> Iterator[Parser]:
    """A parser process of its own, under the worker's memory cap."""
    pool = ParserPool(settings.parse_memory_mb)
    try:
        with pool.lease() as parser:
            yield parser
    finally:
        pool.close()


def _deadline(settings: Settings) -> Callable[[], None]:
    """A stop check that ends the work after INGESTQ_JOB_TIMEOUT, as the worker would."""
    ends = time.monotonic() + settings.job_timeout_s

    def stop() -> None:
        if time.monotonic() > ends:
            raise JobTimeoutError(f"timed out after {settings.job_timeout_s:g} s")

    return stop
