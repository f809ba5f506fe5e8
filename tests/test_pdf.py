"""PDF reading on real files from the shared corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import (
    BROKEN,
    ENCRYPTED,
    FOUR_PAGES,
    GEOTOPO,
    GOOGLE_DOC,
    IMAGE_ONLY,
    MULTICOLUMN,
    TRIVIAL,
    corpus,
)
from ingestq.errors import EncryptedPDFError, UnreadablePDFError
from ingestq.readers.pdf import open_pdf


def test_text_pdf_streams_clean_pages() -> None:
    doc = open_pdf(corpus(FOUR_PAGES))
    pages = list(doc.pages())
    assert doc.page_count == 4
    assert [p.number for p in pages] == [1, 2, 3, 4]
    assert sum(len(p.text) for p in pages) > 10_000


def test_geotopo_headers_are_dropped_and_text_kept() -> None:
    doc = open_pdf(corpus(GEOTOPO))
    raw = list(doc.raw_pages())
    clean = list(doc.pages())
    assert len(clean) == 117
    assert sum(len(p.text) for p in clean) > 120_000
    assert "Topologie" in " ".join(p.text for p in clean)
    # Something repeated at page edges in the raw text is gone from the clean text.
    assert sum(len(p.text) for p in clean) < sum(len(p.text) for p in raw)


def test_password_protected_pdf_is_a_clear_error() -> None:
    with pytest.raises(EncryptedPDFError, match="encrypted"):
        open_pdf(corpus(ENCRYPTED))


def test_broken_pdf_is_a_clear_error() -> None:
    with pytest.raises(UnreadablePDFError, match="cannot be read"):
        open_pdf(corpus(BROKEN))


def test_image_only_pdf_has_no_text() -> None:
    assert all(not p.text for p in open_pdf(corpus(IMAGE_ONLY)).pages())


@pytest.mark.parametrize("algorithm", ["AES-256", "RC4-128"])
def test_pdf_encrypted_with_an_empty_user_password_opens(tmp_path: Path, algorithm: str) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(corpus(TRIVIAL)))
    writer.encrypt(user_password="", owner_password="owner-secret", algorithm=algorithm)
    target = tmp_path / "locked.pdf"
    writer.write(target)
    assert PdfReader(target).is_encrypted
    pages = list(open_pdf(target).pages())
    assert "Lorem ipsum" in pages[0].text


def _zen() -> str:
    import codecs
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        import this

    return " ".join(codecs.decode(this.s, "rot13").split())


def test_the_zen_of_python_comes_out_word_for_word() -> None:
    # google-doc-document.pdf prints `import this`: a ground truth we can check.
    text = " ".join(" ".join(p.text for p in open_pdf(corpus(GOOGLE_DOC)).pages()).split())
    assert _zen()[_zen().index("Beautiful") :] in text


def test_soft_hyphens_rejoin_words_and_maths_survives() -> None:
    text = " ".join(p.text for p in open_pdf(corpus(MULTICOLUMN)).pages())
    assert "consectetuer adipiscing elit" in text and "adip iscing" not in text
    geotopo = " ".join(p.text for p in open_pdf(corpus(GEOTOPO)).pages())
    # PDFium maps TeX's maths fonts to Unicode; pypdf without fontTools does not.
    assert {"∩", "⇒", "∅", "⊆", "→"} <= set(geotopo)


def test_pypdf_extracts_when_pdfium_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    import ingestq.readers.pdf

    monkeypatch.setattr(ingestq.readers.pdf, "_open_pdfium", lambda path: None)
    text = " ".join(" ".join(p.text for p in open_pdf(corpus(GOOGLE_DOC)).pages()).split())
    assert "Explicit is better than implicit." in text
