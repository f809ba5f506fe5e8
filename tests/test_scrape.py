"""Scraping end to end: `ingestq scrape`, a real worker process, a real local web server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import iq, run_cli, store_records
from webserver import NAV_TEXT, Server

SCRAPE_ENV = {
    "INGESTQ_ALLOW_PRIVATE_NETWORKS": "1",
    "INGESTQ_HOST_DELAY": "0",
    "INGESTQ_READ_TIMEOUT": "1",
    "INGESTQ_MAX_DOWNLOAD_MB": "1",
}


def scrape(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("scrape", *args, env=SCRAPE_ENV)


def jobs_by_source() -> dict[str, dict[str, Any]]:
    rows = json.loads(run_cli("status", "--json", "--limit", "1000", check=True).stdout)
    return {j["source"]: j for j in rows}


EXPECTED = {
    "/docs/install.html": ("completed", None),
    "/docs/gzip.html": ("completed", None),
    "/docs/manual.pdf": ("completed", None),
    "/docs/notes.txt": ("completed", None),
    "/docs/faq.md": ("completed", None),
    "/docs/latin1.html": ("completed", None),
    "/hop/3": ("completed", None),
    "/missing": ("failed", "HTTP 404"),
    "/error": ("failed", "HTTP 500"),
    "/loop/a": ("failed", "too many redirects"),
    "/slow": ("failed", "timed out"),
    "/huge": ("failed", "1 MB download limit"),
    "/docs/binary": ("failed", "unsupported content type application/octet-stream"),
    "/docs/empty.html": ("failed", "no text"),
    "/private/secret.html": ("failed", "robots.txt"),
}


@pytest.mark.e2e
def test_every_kind_of_page_ends_in_the_right_state(server: Server, home: Path) -> None:
    urls = [server.url(p) for p in EXPECTED]
    proc = scrape(*urls, "--json")
    assert proc.returncode == 0, proc.stderr
    submitted = json.loads(proc.stdout)
    assert len(submitted) == len(EXPECTED)
    # Transient failures are retried later (see test_reliability); here they fail at once.
    burst = iq("worker", "--burst", env={**SCRAPE_ENV, "INGESTQ_MAX_RETRIES": "0"})
    assert burst.returncode == 0, burst.stderr

    jobs = jobs_by_source()
    for path, (state, error) in EXPECTED.items():
        job = jobs[server.url(path)]
        assert job["kind"] == "url"
        assert job["state"] == state, (path, job["error"])
        if error:
            assert error in job["error"], (path, job["error"])
            assert job["attempts"] == 1
        else:
            assert job["vector_count"] > 0
    assert "transient" in jobs[server.url("/error")]["error"]
    assert "transient" not in jobs[server.url("/missing")]["error"]
    redirected = jobs[server.url("/hop/3")]
    assert redirected["final_url"] == server.url("/docs/install.html")
    assert jobs[server.url("/docs/manual.pdf")]["pages"] == 4

    chunks = store_records()
    records = {
        "documents": [r["text"] for r in chunks],
        "metadatas": [r["metadata"] for r in chunks],
    }
    assert not any(NAV_TEXT in d or "Report a bug" in d for d in records["documents"])
    html_meta = [m for m in records["metadatas"] if m["source"] == server.url("/docs/install.html")]
    assert {m["title"] for m in html_meta} == {"Installing Widgets — Widget Docs"}
    assert {m["final_url"] for m in html_meta} == {server.url("/docs/install.html")}
    assert {m["section"] for m in html_meta} <= {
        "Installing Widgets",
        "Retries and backoff",
        "Uninstalling",
    }

    hits = json.loads(
        run_cli(
            "search",
            "how long does the installer wait between retries?",
            "-k",
            "1",
            "--json",
            check=True,
        ).stdout
    )
    assert hits[0]["source"] in (
        server.url("/docs/install.html"),
        server.url("/docs/gzip.html"),
        server.url("/hop/3"),
    )
    assert "exponential backoff" in hits[0]["text"]


def test_scrape_validates_urls_and_reads_lists(tmp_path: Path, server: Server) -> None:
    bad = scrape("ftp://example.org/file", "not a url", "https://")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "only http and https" in bad.stderr and "no host" in bad.stderr
    listing = tmp_path / "urls.txt"
    listing.write_text(
        f"# nightly list\n\n{server.url('/docs/notes.txt')}\n"
        f"  {server.url('/docs/faq.md')}  \nmailto:someone@example.org\n"
    )
    proc = scrape("--from-file", str(listing), "--json")
    assert proc.returncode == 1  # one bad entry, the rest queued
    assert [e["source"] for e in json.loads(proc.stdout)] == [
        server.url("/docs/notes.txt"),
        server.url("/docs/faq.md"),
    ]
    again = subprocess.run(
        [sys.executable, "-m", "ingestq", "scrape", "-f", "-", "--json"],
        input=f"{server.url('/docs/notes.txt')}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    [dup] = json.loads(again.stdout)
    assert dup["duplicate_of"] == json.loads(proc.stdout)[0]["id"]
    missing = scrape("--from-file", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_urls_are_normalised() -> None:
    proc = scrape("HTTPS://Docs.Example.ORG:443/a/b.html#part", "--json")
    assert json.loads(proc.stdout)[0]["source"] == "https://docs.example.org/a/b.html"


def test_a_thousand_urls_queue_in_one_go(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(f"https://docs.example.org/p/{i}\n" for i in range(1000)))
    proc = scrape("-f", str(listing), "--json")
    assert proc.returncode == 0
    assert len({e["id"] for e in json.loads(proc.stdout)}) == 1000
    assert len(json.loads(run_cli("status", "--json", "--limit", "2000").stdout)) == 1000


def test_extract_url_text_and_json(server: Server) -> None:
    proc = run_cli("extract", server.url("/hop/1"), "--json", env=SCRAPE_ENV)
    doc = json.loads(proc.stdout)
    assert set(doc) == {"title", "final_url", "text", "sections"}
    assert doc["final_url"] == server.url("/docs/install.html")
    assert doc["sections"][1] == {
        "heading": "Retries and backoff",
        "text": doc["sections"][1]["text"],
    }
    assert "exponential backoff" in doc["text"] and NAV_TEXT not in doc["text"]
    text = run_cli("extract", server.url("/docs/install.html"), env=SCRAPE_ENV).stdout
    assert "## Uninstalling" in text


def test_extract_url_refuses_private_addresses_by_default(server: Server) -> None:
    proc = run_cli("extract", server.url("/docs/install.html"))
    assert proc.returncode == 1
    assert "loopback" in proc.stderr and "INGESTQ_ALLOW_PRIVATE_NETWORKS" in proc.stderr
    assert server.log.requests == []
