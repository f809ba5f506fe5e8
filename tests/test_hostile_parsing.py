"""Hostile documents: a PDF that inflates in the parser fails alone, in its parser
process, and the worker and the next job never notice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import MEASURE_PEAK, TRIVIAL, corpus, peak_rss_mb, run_cli
from hostile import bombs
from ingestq.config import load_settings
from ingestq.errors import JobTimeoutError, PermanentJobError
from ingestq.readers.sandbox import ParserMemoryError, ParserPool

CAP = {"INGESTQ_PARSE_MEMORY_MB": "512"}  # a smaller cap than the default: quicker to hit


@pytest.fixture(scope="module")
def hostile_pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    made = {
        # 61 KB whose page is 6 million text operators (about 40 MB): it drove the
        # worker past 10.5 GB, and PDFium aborted the process under a memory limit.
        "operators": bombs.pdf_operator_bomb(),
        # 512 MB of spaces on one page, 0.5 MB on disk: it took 1.6 GB.
        "whitespace": bombs.pdf_whitespace_page(),
    }
    for name, data in made.items():
        (root / f"{name}.pdf").write_bytes(data)
    return {name: root / f"{name}.pdf" for name in made}


def burst(*paths: Path) -> tuple[dict[str, Any], float]:
    """Add ``paths``, run a burst worker in its own process: the jobs by file name, and
    the worker's peak memory in MB."""
    for path in paths:
        run_cli("add", str(path), check=True)
    proc = run_cli("worker", "--burst", env=CAP, fault=MEASURE_PEAK, timeout=300)
    assert proc.returncode == 0, proc.stderr
    jobs = json.loads(run_cli("status", "--json", check=True).stdout)
    return {Path(j["source"]).name: j for j in jobs}, peak_rss_mb(proc.stderr)


@pytest.mark.e2e
def test_a_pdf_that_inflates_fails_alone_and_the_worker_stays_small(
    hostile_pdfs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, normal_peak = burst(corpus(TRIVIAL))
    monkeypatch.setenv("INGESTQ_HOME", str(tmp_path / "second-home"))
    jobs, peak = burst(hostile_pdfs["operators"], hostile_pdfs["whitespace"], corpus(TRIVIAL))
    bomb, spaces = jobs["operators.pdf"], jobs["whitespace.pdf"]
    assert bomb["state"] == "failed" and bomb["attempts"] == 1  # permanent: no retry
    assert bomb["error"] == "the PDF needs more than 512 MB to read"
    assert spaces["state"] == "failed" and "\n" not in spaces["error"]
    assert jobs["minimal-document.pdf"]["state"] == "completed"
    # The document's memory was the parser's, under its cap; the worker held no
    # more than it does for a one-page PDF.
    assert peak < normal_peak + 150, (peak, normal_peak)


def test_a_parser_that_runs_out_of_memory_or_time_is_replaced(
    hostile_pdfs: dict[str, Path],
) -> None:
    pool = ParserPool(512)
    try:
        with pytest.raises(ParserMemoryError, match="needs more than 512 MB"), pool.lease() as p:
            list(p.pdf(hostile_pdfs["operators"], lambda: None).pages)

        def too_late() -> None:
            raise JobTimeoutError("timed out after 0.1 s")

        with pytest.raises(JobTimeoutError), pool.lease() as parser:
            list(parser.pdf(hostile_pdfs["operators"], too_late).pages)
        # The pool goes on with a fresh parser.
        with pool.lease() as parser:
            doc = parser.pdf(corpus(TRIVIAL), lambda: None)
            assert doc.page_count == 1 and "Lorem ipsum" in next(doc.pages).text
            assert list(doc.pages) == []
    finally:
        pool.close()


def test_extract_reads_through_the_same_sandbox(hostile_pdfs: dict[str, Path]) -> None:
    proc = run_cli("extract", str(hostile_pdfs["operators"]), env=CAP)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: the PDF needs more than 512 MB to read"


def test_parser_errors_keep_their_kind() -> None:
    pool = ParserPool(load_settings().parse_memory_mb)
    try:
        with pool.lease() as parser, pytest.raises(PermanentJobError, match="encrypted"):
            parser.pdf(
                corpus("005-libreoffice-writer-password/libreoffice-writer-password.pdf"),
                lambda: None,
            )
        with pool.lease() as parser:  # the same process, still clean
            assert parser.pdf(corpus(TRIVIAL), lambda: None).page_count == 1
    finally:
        pool.close()
