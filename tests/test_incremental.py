"""Incremental re-ingest: unchanged sources cost nothing, changed ones replace their chunks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    BROKEN,
    FOUR_PAGES,
    GEOTOPO,
    MULTICOLUMN,
    TRIVIAL,
    corpus,
    iq,
    run_cli,
    store_records,
)
from webserver import Server

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")

ENV = {"INGESTQ_ALLOW_PRIVATE_NETWORKS": "1", "INGESTQ_HOST_DELAY": "0"}


def add(*args: str) -> list[dict[str, Any]]:
    return json.loads(run_cli("add", *args, "--json", check=True).stdout)  # type: ignore[no-any-return]


def burst() -> None:
    proc = iq("worker", "--burst", env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert "burst done: " in proc.stderr


def job(job_id: str) -> dict[str, Any]:
    return json.loads(run_cli("status", job_id, "--json", check=True).stdout)[0]  # type: ignore[no-any-return]


def store_ids(home: Path, where: dict[str, Any] | None = None) -> set[str]:
    return {r["id"] for r in store_records(where)}


@pytest.mark.e2e
def test_an_unchanged_file_is_recognised_at_add_time(tmp_path: Path, home: Path) -> None:
    doc = tmp_path / "manual.pdf"
    shutil.copy(corpus(FOUR_PAGES), doc)
    [first] = add(str(doc))
    burst()
    before = store_ids(home)
    [again] = add(str(doc))
    assert again["state"] == "completed" and again["unchanged"] is True
    assert again["id"] != first["id"]
    from ingestq.config import load_settings
    from ingestq.queue import open_queue

    assert open_queue(load_settings()).pending_job_ids() == set(), "nothing for the worker"
    assert job(again["id"])["unchanged"] is True
    burst()
    assert store_ids(home) == before


@pytest.mark.e2e
def test_a_changed_file_replaces_exactly_its_chunks(tmp_path: Path, home: Path) -> None:
    doc, other = tmp_path / "manual.pdf", tmp_path / "other.pdf"
    shutil.copy(corpus(FOUR_PAGES), doc)
    shutil.copy(corpus(TRIVIAL), other)
    [old], [kept] = add(str(doc)), add(str(other))
    burst()
    kept_ids = store_ids(home, {"job_id": kept["id"]})
    shutil.copy(corpus(MULTICOLUMN), doc)  # new content at the same path
    [new] = add(str(doc))
    assert new["state"] == "queued" and "unchanged" not in new
    assert store_ids(home, {"job_id": old["id"]}), "the old version stays until the new is in"
    burst()
    assert store_ids(home, {"job_id": old["id"]}) == set()
    assert store_ids(home, {"source": str(doc)}) == store_ids(home, {"job_id": new["id"]})
    assert store_ids(home, {"job_id": kept["id"]}) == kept_ids
    assert job(old["id"])["vector_count"] == 0
    assert "superseded" in [e["event"] for e in job(old["id"])["events"]]


@pytest.mark.e2e
def test_urls_are_fetched_conditionally_and_compared(server: Server, home: Path) -> None:
    urls = [
        server.url("/docs/etag.html"),
        server.url("/docs/notes.txt"),
        server.url("/docs/changing.txt"),
    ]
    first = json.loads(run_cli("scrape", *urls, "--json", env=ENV, check=True).stdout)
    burst()
    second = json.loads(run_cli("scrape", *urls, "--json", env=ENV, check=True).stdout)
    burst()
    etag, notes, changing = (job(e["id"]) for e in second)
    assert etag["unchanged"] is True  # 304 Not Modified
    conditional = [h for _, p, h in server.log.requests if p == "/docs/etag.html"][-1]
    assert conditional.get("If-None-Match") == '"v1"'
    assert notes["unchanged"] is True  # no validators, same bytes
    assert changing["unchanged"] is False and changing["vector_count"] > 0
    assert job(first[2]["id"])["vector_count"] == 0  # replaced by the new edition
    assert store_ids(home, {"job_id": first[0]["id"]}), "unchanged pages keep their chunks"
    assert store_ids(home, {"source": urls[2]}) == store_ids(home, {"job_id": second[2]["id"]})


@pytest.mark.e2e
def test_a_scrape_that_finds_nothing_keeps_the_chunks_it_had(server: Server, home: Path) -> None:
    url = server.url("/docs/vanishing.html")
    [first] = json.loads(run_cli("scrape", url, "--json", env=ENV, check=True).stdout)
    burst()
    kept = store_ids(home, {"job_id": first["id"]})
    assert kept
    [second] = json.loads(run_cli("scrape", url, "--json", env=ENV, check=True).stdout)
    burst()
    failed = job(second["id"])
    assert failed["state"] == "failed" and "no text" in failed["error"]
    assert store_ids(home, {"source": url}) == kept, "an empty page deletes nothing"
    assert job(first["id"])["vector_count"] == len(kept)


@pytest.mark.e2e
def test_a_changed_source_is_reingested_even_if_its_bytes_exist_elsewhere(
    tmp_path: Path, home: Path
) -> None:
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    shutil.copy(corpus(TRIVIAL), a)
    shutil.copy(corpus(FOUR_PAGES), b)
    add(str(a), str(b))
    burst()
    shutil.copy(corpus(TRIVIAL), b)  # b now holds a's bytes
    [again] = add(str(b))
    assert "duplicate_of" not in again and again["state"] == "queued"
    burst()
    assert store_ids(home, {"source": str(b)}) == store_ids(home, {"job_id": again["id"]})
    [copy] = add(str(tmp_path / "a.pdf"))  # the same path, unchanged
    assert copy["unchanged"] is True


def replace_page(src: Path, dest: Path, number: int, donor: Path) -> None:
    """Write ``src`` to ``dest`` with page ``number`` (1-based) swapped for ``donor``'s first."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=src)
    writer.insert_page(PdfReader(donor).pages[0], number - 1)
    writer.remove_page(number)
    with dest.open("wb") as out:
        writer.write(out)


@pytest.mark.e2e
def test_editing_one_page_re_embeds_only_the_chunks_around_it(tmp_path: Path, home: Path) -> None:
    # GeoTopo has 117 pages and about 300 chunks: several embedding batches,
    # so reuse must work across batches, not only within one.
    doc = tmp_path / "geotopo.pdf"
    shutil.copy(corpus(GEOTOPO), doc)
    [first] = add(str(doc))
    burst()
    before = job(first["id"])
    assert before["state"] == "completed"
    assert before["reused"] == 0 and before["embedded"] == before["vector_count"] > 250
    replace_page(corpus(GEOTOPO), doc, 60, corpus(MULTICOLUMN))
    [second] = add(str(doc))
    burst()
    after = job(second["id"])
    assert after["state"] == "completed"
    assert after["reused"] + after["embedded"] == after["vector_count"]
    # The new page alone is about 6 chunks; a few more change on the pages
    # whose running-header vote the swapped page took part in. Nothing else.
    assert 1 <= after["embedded"] <= 0.05 * after["vector_count"], after
    assert after["reused"] >= 0.95 * after["vector_count"]
    assert "reused" in after["events"][-1]["message"]
    # The store holds exactly the new version, and the new page is searchable.
    assert store_ids(home, {"source": str(doc)}) == store_ids(home, {"job_id": second["id"]})
    assert len(store_ids(home)) == after["vector_count"]
    query = "Two-Column Document with Lorem Ipsum"
    hits = json.loads(run_cli("search", query, "--json", check=True).stdout)
    assert any(h["job_id"] == second["id"] and h["page"] == 60 for h in hits)


@pytest.mark.e2e
def test_a_file_that_failed_is_not_retried_nightly_until_it_changes(
    tmp_path: Path, home: Path
) -> None:

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(corpus(BROKEN), docs / "broken.pdf")
    shutil.copy(corpus(TRIVIAL), docs / "fine.pdf")
    first = {Path(e["source"]).name: e for e in add(str(docs))}
    burst()
    assert job(first["broken.pdf"]["id"])["state"] == "failed"
    # The next night: the same bytes would fail the same way. Nothing is queued.
    again = {Path(e["source"]).name: e for e in add(str(docs))}
    assert again["broken.pdf"]["id"] == first["broken.pdf"]["id"]
    assert again["broken.pdf"]["state"] == "failed"
    assert again["broken.pdf"]["duplicate_of"] == first["broken.pdf"]["id"]
    assert again["fine.pdf"]["unchanged"] is True
    proc = run_cli("add", str(docs / "broken.pdf"))
    assert proc.returncode == 0 and "retry" in proc.stdout
    synced = json.loads(run_cli("add", str(docs), "--sync", "--json", check=True).stdout)
    assert synced["failed_before"] == 1 and synced["added"] == 0
    assert synced["plan"]["failed_before"] == [str(docs / "broken.pdf")]
    # New content, or --force, is tried again.
    [forced] = add(str(docs / "broken.pdf"), "--force")
    assert forced["state"] == "queued" and forced["id"] != first["broken.pdf"]["id"]
    shutil.copy(corpus(FOUR_PAGES), docs / "broken.pdf")
    [fixed] = add(str(docs / "broken.pdf"))
    assert fixed["state"] == "queued"
