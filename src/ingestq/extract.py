"""``extract``: the clean text ingestq would chunk, without ingesting anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ingestq.errors import UsageError
from ingestq.pdf import open_pdf
from ingestq.submit import check_pdf


@dataclass
class Extracted:
    title: str | None
    pages: list[dict[str, object]] = field(default_factory=list)


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
