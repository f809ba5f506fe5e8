"""PDF text extraction: pypdf against pypdfium2 on every readable corpus PDF.

Speed: median seconds per document over the runs. Quality, where the corpus
gives a ground truth or a clear signal:
* google-doc-document.pdf prints the Zen of Python: similarity of each
  extractor's text to ``import this`` (difflib ratio, whitespace collapsed);
* GeoTopo is typeset maths: how many of its maths symbols (U+2190-U+22FF)
  come out as Unicode rather than font garbage;
* multicolumn.pdf hyphenates words at line ends: how many come back whole.
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import io
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from common import CORPUS, GEOTOPO, corpus_pdfs

GOOGLE_DOC = CORPUS / "011-google-doc-document" / "google-doc-document.pdf"
MULTICOLUMN = CORPUS / "026-latex-multicolumn" / "multicolumn.pdf"


def with_pypdf(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(path)
    if reader.is_encrypted:
        reader.decrypt("")
    return "\n".join(p.extract_text() or "" for p in reader.pages)


def with_pdfium(path: Path) -> str:
    from ingestq.readers.pdf import open_pdf

    return "\n".join(p.text for p in open_pdf(path).raw_pages())


def _timed(fn: Any, path: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _flat(text: str) -> str:
    return " ".join(text.split())


def quality(fn: Any) -> dict[str, float]:
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        import this

    zen = _flat(codecs.decode(this.s, "rot13"))
    got = _flat(fn(GOOGLE_DOC))
    start = got.find("Beautiful")
    zen_ratio = difflib.SequenceMatcher(
        None, zen[zen.find("Beautiful") :], got[start:][: len(zen)]
    ).ratio()
    maths = sum(1 for ch in fn(GEOTOPO) if 0x2190 <= ord(ch) <= 0x22FF)
    multi = fn(MULTICOLUMN)
    whole = sum(multi.count(w) for w in ("adipiscing", "consectetuer", "tristique"))
    return {
        "zen_similarity": round(zen_ratio, 4),
        "geotopo_maths_symbols": maths,
        "whole_words": whole,
    }


def readable() -> list[Path]:
    from ingestq.errors import IngestqError
    from ingestq.readers.pdf import open_pdf

    out = []
    for path in corpus_pdfs():
        try:
            open_pdf(path)
        except IngestqError:
            continue
        out.append(path)
    return out


def bench_extractors(runs: int) -> dict[str, Any]:
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    files = readable()
    result: dict[str, Any] = {"files": len(files), "runs": runs}
    for name, fn in (("pypdf", with_pypdf), ("pypdfium2", with_pdfium)):
        result[name] = {
            "geotopo_s": _timed(fn, GEOTOPO, runs),
            "corpus_s": sum(_timed(fn, f, runs) for f in files),
            **quality(fn),
        }
    result["geotopo_speedup"] = result["pypdf"]["geotopo_s"] / result["pypdfium2"]["geotopo_s"]
    return result
