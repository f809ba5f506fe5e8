"""``collections``, ``chunks``, ``export``, ``remove`` and ``stats`` on a real store."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from conftest import BROKEN, FOUR_PAGES, TRIVIAL, corpus, run_burst, run_cli, state
from ingestq.config import load_settings
from ingestq.ops.inputs import SubmitOptions
from ingestq.ops.submit import add_paths
from ingestq.state.db import fetchval
from ingestq.store import open_blob_store

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")

MANUALS = SubmitOptions(collection="manuals")


def ingest(embedder: Any) -> dict[str, Any]:
    settings = load_settings()
    [trivial] = add_paths(settings, [str(corpus(TRIVIAL))]).submitted
    [manual] = add_paths(settings, [str(corpus(FOUR_PAGES))], MANUALS).submitted
    [broken] = add_paths(settings, [str(corpus(BROKEN))]).submitted
    run_burst(embedder, settings)  # the session's model: no second load
    return {"trivial": trivial.job, "manual": manual.job, "broken": broken.job}


def cli_json(*args: str) -> Any:
    return json.loads(run_cli(*args, "--json", check=True).stdout)


def test_collections_chunks_and_export(embedder: Any) -> None:
    jobs = ingest(embedder)
    listed = {c["name"]: c for c in cli_json("collections")}
    assert set(listed) == {"default", "manuals"}
    assert listed["manuals"]["documents"] == 1 and listed["default"]["documents"] == 1
    assert listed["manuals"]["model"] == "all-MiniLM-L6-v2"
    chunks = cli_json("chunks", jobs["manual"].id)
    assert listed["manuals"]["chunks"] == len(chunks) > 10
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert all(1 <= c["page"] <= c["page_end"] <= 4 for c in chunks)
    assert all(0 < c["tokens"] <= 254 for c in chunks)
    assert chunks[0]["id"] == f"{jobs['manual'].id}:0"
    text = run_cli("chunks", jobs["manual"].id[:12], check=True).stdout
    assert "page 1" in text and "tokens" in text

    lines = run_cli("export", "-c", "manuals", check=True).stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == sorted(c["id"] for c in chunks) or len(records) == len(
        chunks
    )
    assert {r["text"] for r in records} == {c["text"] for c in chunks}
    assert all(
        "embedding" not in r and r["metadata"]["job_id"] == jobs["manual"].id for r in records
    )
    with_vectors = run_cli("export", "-c", "manuals", "--vectors", check=True).stdout.splitlines()
    first = json.loads(with_vectors[0])
    assert len(first["embedding"]) == 384
    assert math.isclose(math.sqrt(sum(x * x for x in first["embedding"])), 1.0, abs_tol=1e-3)
    assert run_cli("export", "-c", "nope").returncode == 1


def test_remove_deletes_a_job_and_everything_it_owns(embedder: Any) -> None:
    jobs = ingest(embedder)
    settings = load_settings()
    manual = jobs["manual"]
    kept = cli_json("chunks", jobs["trivial"].id)
    [gone] = cli_json("remove", manual.id[:14])
    assert gone["id"] == manual.id
    assert run_cli("status", manual.id).returncode == 1, "the job row is gone"
    assert not open_blob_store(settings).exists(manual.content_hash or "")
    db = state()
    assert fetchval(db, "SELECT count(*) FROM events WHERE job_id = ?", (manual.id,)) == 0
    assert fetchval(db, "SELECT count(*) FROM sources WHERE job_id = ?", (manual.id,)) == 0
    listed = {c["name"]: c for c in cli_json("collections")}
    assert listed["manuals"]["chunks"] == 0 and listed["manuals"]["documents"] == 0
    assert cli_json("chunks", jobs["trivial"].id) == kept, "other jobs are untouched"
    # The file can be added again afresh: its source was forgotten with the job.
    [again] = add_paths(settings, [str(corpus(FOUR_PAGES))], MANUALS).submitted
    assert again.job.state == "queued"
    db.execute("UPDATE jobs SET state = 'processing' WHERE id = ?", (again.job.id,))
    busy = run_cli("remove", again.job.id)
    assert busy.returncode == 1 and "cancel" in busy.stderr
    assert run_cli("remove", "01NOSUCHJOB").returncode == 1


def test_stats_reports_states_stages_throughput_and_failures(embedder: Any) -> None:
    ingest(embedder)
    s = cli_json("stats", "--since", "1h")
    assert s["states"]["completed"] == 2 and s["states"]["failed"] == 1
    assert {"parsing", "embedding", "indexing"} <= set(s["stages"])
    assert s["stages"]["embedding"]["count"] == 2
    assert s["stages"]["embedding"]["p95_s"] >= s["stages"]["embedding"]["median_s"] > 0
    assert s["chunks_per_s"] > 0 and s["pages_per_s"] > 0
    assert s["retries"] == 0
    [failure] = s["failures"]
    assert failure["count"] == 1 and "cannot be read" in failure["reason"]
    text = run_cli("stats", check=True).stdout
    assert "chunks/s" in text and "cannot be read" in text
    assert run_cli("stats", "--since", "soon").returncode == 2
