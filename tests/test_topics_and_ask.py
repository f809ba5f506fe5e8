"""Topics (offline and through an LLM) and ``ask``, against a local OpenAI-compatible stub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import FOUR_PAGES, GEOTOPO, corpus, iq, run_burst, run_cli
from ingestq.config import load_settings
from ingestq.ops.submit import add_paths
from ingestq.state.events import events_for
from ingestq.state.jobs import get_job
from openai_stub import TOPICS, Stub, serve


@pytest.fixture
def stub() -> Iterator[Stub]:
    with serve() as s:
        yield s


def llm_env(stub: Stub) -> dict[str, str]:
    return {
        "INGESTQ_LLM_MODEL": "stub-model",
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
    }


def ingest(embedder: Any, path: str) -> Any:
    settings = load_settings()
    [sub] = add_paths(settings, [path]).submitted
    worker = run_burst(embedder, settings)
    return get_job(worker.db, sub.job.id), events_for(worker.db, sub.job.id)


def test_offline_topics_are_relevant_phrases_of_the_document(embedder: Any) -> None:
    job, _ = ingest(embedder, str(corpus(GEOTOPO)))
    assert job.state == "completed"
    assert 3 <= len(job.topics) <= 8
    text = " ".join(c["text"] for c in json.loads(run_cli("chunks", job.id, "--json").stdout))
    flat = " ".join(text.lower().split())
    for topic in job.topics:
        assert topic in flat or all(w in flat for w in topic.split()), topic
    # GeoTopo is a lecture on geometry and topology: its topics say so.
    assert any(w in " ".join(job.topics) for w in ("topolog", "mannigfaltigkeit", "homomorphismus"))
    assert len(set(job.topics)) == len(job.topics)
    shown = run_cli("status", job.id, check=True).stdout
    assert job.topics[0] in shown


def test_llm_topics_and_their_fallback(
    embedder: Any, stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in llm_env(stub).items():
        monkeypatch.setenv(name, value)
    job, events = ingest(embedder, str(corpus(FOUR_PAGES)))
    assert job.topics == TOPICS
    [request] = [r for r in stub.requests if r["path"].endswith("/chat/completions")]
    assert request["body"]["model"] == "stub-model"
    assert "blind text" in request["body"]["messages"][-1]["content"].lower()
    assert not [e for e in events if e["event"] == "topics_fallback"]

    stub.fail = True
    job2, events2 = ingest(embedder, str(corpus(GEOTOPO)))
    assert job2.state == "completed", "an LLM failure never fails the job"
    assert 3 <= len(job2.topics) <= 8 and job2.topics != TOPICS
    [note] = [e["message"] for e in events2 if e["event"] == "topics_fallback"]
    assert "LLM topics failed" in note and "offline" in note


@pytest.mark.e2e
def test_ask_streams_an_answer_citing_sources(embedder: Any, stub: Stub) -> None:
    ingest(embedder, str(corpus(FOUR_PAGES)))
    env = llm_env(stub)
    proc = iq("ask", "what is a blind text for?", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "The sources say so [pdflatex-4-pages.pdf p." in proc.stdout
    assert "Sources" in proc.stdout and "pdflatex-4-pages.pdf p." in proc.stdout.split("Sources")[1]
    [request] = [r for r in stub.requests if r["body"].get("stream")]
    prompt = request["body"]["messages"][-1]["content"]
    assert "[pdflatex-4-pages.pdf p." in prompt and "what is a blind text for?" in prompt
    data = json.loads(iq("ask", "blind text?", "--json", env=env, check=True).stdout)
    assert data["answer"].startswith("The sources say so") and data["sources"]
    stub.fail = True
    failed = iq("ask", "blind text?", env=env)
    assert failed.returncode == 1 and "the LLM failed" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_ask_without_an_llm_says_so_in_one_line() -> None:
    proc = run_cli("ask", "anything?", env={"INGESTQ_LLM_MODEL": ""})
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "no LLM is configured" in line and "ingestq search" in line


@pytest.mark.e2e
def test_the_openai_embedder_indexes_and_searches_and_retries_on_429(stub: Stub) -> None:
    env = llm_env(stub) | {
        "INGESTQ_EMBEDDER": "openai:stub-embed",
        "INGESTQ_LLM_MODEL": "",
        "INGESTQ_RETRY_BACKOFF": "0.2",
    }
    stub.rate_limit = 1
    # --wait with no worker runs the job here and waits out the retry the 429 asks for.
    waited = run_cli("add", str(corpus(FOUR_PAGES)), "--wait", "--json", env=env, timeout=300)
    assert waited.returncode == 0, waited.stderr
    [job] = json.loads(waited.stdout)
    done = json.loads(run_cli("status", job["id"], "--json", env=env, check=True).stdout)[0]
    assert done["state"] == "completed" and done["attempts"] == 2, done["error"]
    assert any(e["event"] == "retry_scheduled" and "429" in e["message"] for e in done["events"])
    [coll] = json.loads(run_cli("collections", "--json", env=env, check=True).stdout)
    assert (coll["model"], coll["dimension"]) == ("openai:stub-embed", 64)
    chunks = json.loads(run_cli("chunks", job["id"], "--json", env=env, check=True).stdout)
    # Chunks follow this model's 8,191-token limit, not MiniLM's 256.
    assert len(chunks) < 4 and max(c["tokens"] for c in chunks) > 256
    hits = json.loads(run_cli("search", "blind text", "--json", env=env, check=True).stdout)
    assert hits and hits[0]["job_id"] == job["id"]
    assert any(r["path"].endswith("/embeddings") for r in stub.requests)
    # The default model cannot search a collection built by another: a
    # configuration error (exit 2), as on a Chroma server.
    other = run_cli("search", "blind text")
    assert other.returncode == 2 and "openai:stub-embed" in other.stderr


def test_a_bad_embedder_setting_is_a_usage_error() -> None:
    for spec in ("bogus", "openai:", "remote:x"):
        proc = run_cli("status", env={"INGESTQ_EMBEDDER": spec})
        assert proc.returncode == 2 and "INGESTQ_EMBEDDER" in proc.stderr, spec


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Any, name: str | None = None) -> None:
        self.inner, self.texts = inner, []
        self.name = name or inner.name

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size)


def test_phrase_vectors_are_embedded_once_per_model(embedder: Any) -> None:
    import numpy as np

    from ingestq.pipeline.topics import PhraseVectors

    cache = PhraseVectors(size=3)
    counting = CountingEmbedder(embedder)
    first = cache.encode(counting, ["topology", "manifold"])
    again = cache.encode(counting, ["manifold", "homotopy", "topology"])
    assert counting.texts == ["topology", "manifold", "homotopy"]
    # The cached rows are the vectors the model gives, in the order asked for.
    direct = np.asarray(embedder.encode(["manifold", "homotopy", "topology"]), dtype=np.float32)
    assert np.allclose(again, direct, atol=1e-5)
    assert np.allclose(first, direct[[2, 0]], atol=1e-5)
    # Bounded: the least recently used phrase goes first ("manifold", then "homotopy"
    # and "topology" were asked for last, so "manifold" is the oldest when one more comes).
    cache.encode(counting, ["sheaf"])
    cache.encode(counting, ["manifold"])
    assert counting.texts[3:] == ["sheaf", "manifold"]
    # Another model never gets this one's vectors.
    other = CountingEmbedder(embedder, name="another-model")
    cache.encode(other, ["sheaf"])
    assert other.texts == ["sheaf"]


def test_cached_phrase_vectors_do_not_hold_their_batch(embedder: Any) -> None:
    from ingestq.pipeline.topics import PhraseVectors

    cache = PhraseVectors()
    cache.encode(embedder, ["topology", "manifold", "homotopy"])
    # Each kept vector owns its memory: none is a view of the batch it came from.
    assert all(vector.base is None for vector in cache._items.values())
