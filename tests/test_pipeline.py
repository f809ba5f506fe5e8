"""The worker's pipeline in-process, with the real model, a real Chroma store and real PDFs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import FOUR_PAGES, GEOTOPO, TRIVIAL, corpus, run_burst, state, stored
from conftest import get_job as job
from ingestq.config import load_settings
from ingestq.errors import ModelMismatchError
from ingestq.ops.inputs import ChunkOptions, SubmitOptions
from ingestq.ops.submit import add_paths
from ingestq.state.events import events_for
from ingestq.store import open_blob_store, open_vector_store

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")


def test_a_pdf_becomes_chunks_with_pages_and_metadata(embedder: Any) -> None:
    [sub] = add_paths(load_settings(), [str(corpus(FOUR_PAGES))]).submitted
    run_burst(embedder)
    done = job(sub.job.id)
    assert done.state == "completed", done.error
    assert (done.pages, done.progress, done.attempts) == (4, 100, 1)
    assert done.started_at and done.completed_at and done.stage is None
    records = stored(done.id)
    assert len(records["ids"]) == done.vector_count > 10
    metas = records["metadatas"]
    assert {m["page"] for m in metas} == {1, 2, 3, 4}
    assert all(m["page"] <= m["page_end"] for m in metas)
    assert {m["source"] for m in metas} == {str(corpus(FOUR_PAGES))}
    assert {m["kind"] for m in metas} == {"pdf"}
    assert sorted(m["chunk_index"] for m in metas) == list(range(done.vector_count))
    assert {m["content_hash"] for m in metas} == {done.content_hash}
    history = events_for(state(), done.id)
    events = [e["event"] for e in history]
    assert events[:2] == ["queued", "claimed"] and events[-1] == "completed"
    stages = [e["message"] for e in history if e["event"] == "stage"]
    assert stages == ["parsing", "embedding", "indexing", "topics"], "each stage is noted once"


def test_running_a_job_again_never_duplicates_vectors(embedder: Any) -> None:
    [sub] = add_paths(load_settings(), [str(corpus(FOUR_PAGES))]).submitted
    worker = run_burst(embedder)
    first = job(sub.job.id).vector_count
    state().execute("UPDATE jobs SET state = 'queued' WHERE id = ?", (sub.job.id,))
    worker.execute(sub.job.id)
    again = job(sub.job.id)
    assert again.state == "completed"
    assert len(stored(sub.job.id)["ids"]) == first == again.vector_count
    # The second attempt found the first one's vectors and embedded nothing.
    assert (again.reused, again.embedded) == (first, 0)
    # A delivery of a completed job is skipped.
    worker.execute(sub.job.id)
    assert job(sub.job.id).attempts == 2


def test_chunk_options_apply(embedder: Any) -> None:
    settings = load_settings()
    [small] = add_paths(
        settings,
        [str(corpus(FOUR_PAGES))],
        SubmitOptions(collection="small", chunking=ChunkOptions(tokens=64, overlap=8)),
    ).submitted
    [large] = add_paths(
        settings, [str(corpus(FOUR_PAGES))], SubmitOptions(collection="large")
    ).submitted
    run_burst(embedder)
    assert job(small.job.id).vector_count > 3 * job(large.job.id).vector_count


def test_forced_reingest_replaces_the_previous_copy(embedder: Any) -> None:
    settings = load_settings()
    [old] = add_paths(settings, [str(corpus(TRIVIAL))]).submitted
    run_burst(embedder)
    [new] = add_paths(settings, [str(corpus(TRIVIAL))], SubmitOptions(force=True)).submitted
    run_burst(embedder)
    assert len(stored(old.job.id)["ids"]) == 0
    assert len(stored(new.job.id)["ids"]) == job(new.job.id).vector_count > 0
    assert job(old.job.id).vector_count == 0


def test_a_job_past_its_timeout_fails_and_the_next_one_runs(
    embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    # GeoTopo's 324 chunks take over 8 s even on a quiet machine; the trivial job
    # takes well under 5 s on servers under load, waiting included for the batch
    # of GeoTopo's that is still in the model when it times out. Batches of 8 keep
    # that wait short (batches of 64 took 4 s or more under load, and 2 s of
    # timeout failed the trivial job too).
    monkeypatch.setenv("INGESTQ_JOB_TIMEOUT", "5")
    monkeypatch.setenv("INGESTQ_EMBED_BATCH", "8")
    settings = load_settings()
    [slow] = add_paths(settings, [str(corpus(GEOTOPO))]).submitted
    [fast] = add_paths(settings, [str(corpus(TRIVIAL))]).submitted
    run_burst(embedder)
    failed = job(slow.job.id)
    assert (failed.state, failed.error) == ("failed", "timed out after 5 s")
    assert len(stored(slow.job.id)["ids"]) == 0, "partial vectors must be removed"
    assert job(fast.job.id).state == "completed"


def test_a_missing_blob_fails_the_job_clearly(embedder: Any) -> None:
    settings = load_settings()
    [sub] = add_paths(settings, [str(corpus(TRIVIAL))]).submitted
    assert open_blob_store(settings).delete(sub.job.content_hash or "")
    run_burst(embedder)
    assert job(sub.job.id).state == "failed"
    assert "missing" in (job(sub.job.id).error or "")


def test_a_collection_of_another_model_is_refused(embedder: Any, tmp_path: Path) -> None:
    settings = load_settings()
    store = open_vector_store(settings)
    store.ensure_collection("default", "some-other-model", 768)
    with pytest.raises(ModelMismatchError, match="some-other-model"):
        store.ensure_collection("default", embedder.name, embedder.dimension)
    del store
    pdf = tmp_path / "x.pdf"
    shutil.copy(corpus(TRIVIAL), pdf)
    [sub] = add_paths(settings, [str(pdf)]).submitted
    # The worker, not the document, is set up wrong: the job waits for a worker
    # with the collection's model, and this one stops, saying why.
    with pytest.raises(ModelMismatchError, match="some-other-model"):
        run_burst(embedder)
    assert job(sub.job.id).state == "queued"
    assert job(sub.job.id).attempts == 0


def test_store_reopens_without_an_embedding_function(embedder: Any) -> None:
    settings = load_settings()
    [sub] = add_paths(settings, [str(corpus(TRIVIAL))]).submitted
    run_burst(embedder)
    fresh = open_vector_store(settings)  # a new client, as `search` makes
    fresh.check_collection("default", embedder.name)
    hits = fresh.query("default", embedder.encode(["Lorem ipsum dolor sit amet"])[0], k=1)
    assert hits[0].job_id == sub.job.id and 0.3 < hits[0].score <= 1.0
    coll = fresh._get("default")  # type: ignore[attr-defined]
    assert coll.configuration_json["hnsw"]["space"] == "cosine"
