"""``extract``: the clean text ingestq would chunk, without ingesting anything."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ingestq.config import Settings
from ingestq.errors import PermanentJobError, UsageError
from ingestq.ops.inputs import check_pdf
from ingestq.readers.pdf import open_pdf
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
        got = fetcher.get(normalize_url(url))
    finally:
        fetcher.close()
    if (got.content_type or "") == "application/pdf" or got.body[:5] == b"%PDF-":
        with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
            tmp.write(got.body)
            tmp.flush()
            return extract(Path(tmp.name), settings.max_download_bytes)
    if got.content_type not in webpage.HTML_TYPES | webpage.TEXT_TYPES:
        raise PermanentJobError(f"unsupported content type {got.content_type or '(none)'}")
    page = webpage.parse(got.body, got.content_type, got.charset, got.url)
    return ExtractedPage(
        title=page.title,
        final_url=got.url,
        text=page.text,
        sections=[{"heading": s.heading, "text": s.text} for s in page.sections],
    )


def extract(path: Path, max_bytes: int) -> Extracted:
    """Every page's cleaned text. Fails like the worker would on the same file."""
    if problem := check_pdf(path, max_bytes):
        raise UsageError(problem)
    doc = open_pdf(path)
    pages = [{"page": p.number, "text": p.text} for p in doc.pages()]
    title = doc.title or next(
        (line for p in pages for line in str(p["text"]).split("\n") if line.strip()), None
    )
    return Extracted(title=title, pages=pages)
