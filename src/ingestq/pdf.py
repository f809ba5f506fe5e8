"""Read PDFs: open (and decrypt), then stream clean text page by page.

Failures that no retry can fix become :class:`~ingestq.errors.PermanentJobError`
subclasses with a one-line message a user can act on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestq.errors import EncryptedPDFError, UnreadablePDFError
from ingestq.textclean import Page, drop_running_lines, normalize

# pypdf reports every recoverable oddity of a file as a warning; they are noise
# in the worker's log, and real failures reach us as exceptions.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass
class PdfDocument:
    """An opened PDF whose pages can be streamed."""

    path: Path
    reader: Any
    page_count: int

    @property
    def title(self) -> str | None:
        try:
            meta = self.reader.metadata
            title = meta.title if meta else None
        except Exception:  # broken metadata must not stop text extraction
            return None
        text = str(title).replace("\x00", "").strip() if title else ""
        return text or None

    def raw_pages(self) -> Iterator[Page]:
        """Each page's text as extracted, one page in memory at a time."""
        for index in range(self.page_count):
            try:
                text = self.reader.pages[index].extract_text() or ""
            except Exception as exc:
                raise UnreadablePDFError(
                    f"cannot read page {index + 1} of the PDF: {_short(exc)}"
                ) from exc
            yield Page(index + 1, text)

    def pages(self) -> Iterator[Page]:
        """Clean text per page: normalised, with running headers and footers dropped."""
        cleaned = (Page(p.number, normalize(p.text)) for p in self.raw_pages())
        return drop_running_lines(cleaned)


def open_pdf(path: Path) -> PdfDocument:
    """Open ``path``, decrypting it if its user password is empty."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise EncryptedPDFError("the PDF is encrypted and needs a password")
        count = len(reader.pages)
    except EncryptedPDFError:
        raise
    except FileNotDecryptedError as exc:
        raise EncryptedPDFError("the PDF is encrypted and needs a password") from exc
    except DependencyError as exc:
        raise UnreadablePDFError(f"the PDF cannot be decrypted: {_short(exc)}") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise UnreadablePDFError(f"the PDF cannot be read: {_short(exc)}") from exc
    return PdfDocument(path=path, reader=reader, page_count=count)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
