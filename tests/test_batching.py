"""Batches across documents: one embedding loop fed by every job in flight.

A real worker in this process (a burst with two job threads) and the packaged
model. The faults are the tests' own: a model that refuses one document's
text, and a model whose calls wait for the test's go-ahead.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import FOUR_PAGES, GEOTOPO, MULTICOLUMN, corpus, get_job, iq, wait_until

pytestmark = pytest.mark.usefixtures("backend")


class Model:
    """The real model, as a test fault can break it: it records what it was given,
    raises for texts holding ``poison``, and, when ``gated``, runs a call only
    once the test releases it."""

    def __init__(self, inner: Any, poison: str = "", gated: bool = False) -> None:
        self.inner = inner
        self.poison = poison
        self.gate = threading.Semaphore(0) if gated else None
        self.arrived = 0  # calls that reached the model, released or not
        self.calls: list[list[str]] = []
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens

    def chunker(self, tokens: int | None = None, overlap: int | None = None) -> Any:
        return self.inner.chunker(tokens, overlap)

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        self.arrived += 1
        if self.gate is not None:
            self.gate.acquire()
        self.calls.append(list(texts))
        if self.poison and any(self.poison in t for t in texts):
            raise ValueError("the model chokes on this document")
        return self.inner.encode(texts, batch_size)


def _start(model: Any) -> tuple[Any, threading.Thread]:
    """A worker with ``model`` running every due job in two job threads, in a thread."""
    from ingestq.config import load_settings
    from ingestq.worker.worker import Worker, WorkerOptions

    worker = Worker(load_settings(), model, concurrency=2)
    thread = threading.Thread(
        target=worker.run, args=(WorkerOptions(burst=True, concurrency=2),), daemon=True
    )
    thread.start()
    return worker, thread


def _both_running_then_go(model: Model, jobs: list[str], thread: threading.Thread) -> None:
    """Hold the model's first call until both jobs run, then let every call through:
    however slowly the second thread starts, the loop then knows both jobs."""
    wait_until(lambda: model.arrived > 0, 120, "the first call of the model")
    wait_until(lambda: all(get_job(j).state != "queued" for j in jobs), 120, "both jobs to start")
    assert model.gate is not None
    model.gate.release(100_000)
    thread.join(300)
    assert not thread.is_alive()


def _add(*paths: Path, collection: str = "default") -> list[str]:
    import json

    out = iq("add", *map(str, paths), "--collection", collection, "--json", check=True).stdout
    return [entry["id"] for entry in json.loads(out)]


def _vectors(job_id: str, collection: str = "default") -> dict[str, Any]:
    from ingestq.config import load_settings
    from ingestq.store import open_vector_store

    records = open_vector_store(load_settings()).records(collection, vectors=True)
    return {r["text"]: r["embedding"] for r in records if r["metadata"]["job_id"] == job_id}


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop waits for every job in flight before it runs a batch that is not full,
    and, until it has seen two jobs, for the second: so which jobs share a batch does
    not hang on the machine's speed (under load the second job's thread could start
    after the first job's request had gone to the model alone)."""
    from ingestq.embed import batcher

    monkeypatch.setattr(batcher, "LINGER_S", 60.0)
    monkeypatch.setattr(batcher, "CPU_LINGER_S", 60.0)
    seen: set[str] = set()
    awaited = batcher._awaited

    def until_two(pending: Any) -> bool:
        with batcher._jobs_lock:
            seen.update(batcher._jobs)
        return len(seen) < 2 or awaited(pending)

    monkeypatch.setattr(batcher, "_awaited", until_two)


@pytest.mark.usefixtures("patient")
def test_one_batch_holds_several_jobs_and_their_vectors_are_unchanged(embedder: Any) -> None:
    first, second = _add(corpus(FOUR_PAGES), corpus(MULTICOLUMN))
    worker, thread = _start(Model(embedder, gated=True))
    _both_running_then_go(worker.resources.embedder.inner, [first, second], thread)
    stats = worker.resources.embedder.stats
    assert any({first, second} <= set(window) for window in stats.recent), list(stats.recent)
    for job_id in (first, second):
        assert get_job(job_id).state == "completed"
        stored = _vectors(job_id)
        texts = list(stored)
        # The per-document path: this document's chunks alone through the model.
        alone = embedder.encode(texts, 64)
        assert np.abs(np.array([stored[t] for t in texts]) - alone).max() < 1e-5


@pytest.mark.usefixtures("patient")
def test_a_failing_document_fails_alone_and_its_batch_mates_complete(embedder: Any) -> None:
    chunker = embedder.chunker()
    from ingestq.readers.pdf import open_pdf

    poison = next(chunker.chunks(open_pdf(corpus(MULTICOLUMN)).pages())).text[:40]
    good, bad = _add(corpus(FOUR_PAGES), corpus(MULTICOLUMN))
    model = Model(embedder, poison=poison, gated=True)
    worker, thread = _start(model)
    _both_running_then_go(model, [good, bad], thread)
    windows = list(worker.resources.embedder.stats.recent)
    # The two were given to the model together, and that batch failed...
    assert any({good, bad} <= set(w) for w in windows), windows
    assert any(poison in t for call in model.calls for t in call)
    # ...yet only the document that broke it failed.
    assert get_job(good).state == "completed"
    assert get_job(good).vector_count > 0
    failed = get_job(bad)
    assert failed.state != "completed"
    assert "the model chokes on this document" in (failed.error or "")
    assert _vectors(bad) == {}


def test_a_cancelled_job_leaves_the_queue_at_once(
    embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No lingering: the loop takes a job's request alone, so the other job's
    # request waits in the queue while the model is busy.
    monkeypatch.setattr("ingestq.embed.batcher.LINGER_S", 0.0)
    monkeypatch.setenv("INGESTQ_HEARTBEAT", "0.2")
    # The model waits for the test: on a loaded machine the other job outlives 300 s.
    monkeypatch.setenv("INGESTQ_JOB_TIMEOUT", "3600")
    jobs = _add(corpus(GEOTOPO), collection="one") + _add(corpus(GEOTOPO), collection="two")
    model = Model(embedder, gated=True)
    worker, thread = _start(model)
    batcher = worker.resources.embedder
    assert model.gate is not None
    # Let the model run call by call until it is busy while a job waits for it.
    victim = ""
    while not victim:
        calls = model.arrived
        wait_until(lambda: model.arrived > 0, 120, "the first call of the model")
        # A job outside the model's current call either submits soon or is done.
        wait_until(lambda: all(_accounted(batcher, j) for j in jobs), 120, "both jobs to wait")
        waiting = [j for j in jobs if batcher.pending(j)]
        if waiting:
            victim = waiting[0]
            break
        model.gate.release()
        wait_until(
            lambda c=calls: model.arrived > c or not thread.is_alive(),  # type: ignore[misc]
            120,
            "the next call",
        )
        assert thread.is_alive(), "the burst ended before a job waited for the model"
    queued = batcher.pending(victim)
    iq("cancel", victim, check=True)
    wait_until(lambda: batcher.pending(victim) == 0, 60, "the cancelled job's texts to leave")
    windows_before = len(batcher.stats.recent)
    assert batcher.stats.dropped >= 1
    model.gate.release(100_000)  # let the rest run
    thread.join(300)
    assert not thread.is_alive()
    assert queued > 0
    # The model never saw the cancelled job again, and the other job finished.
    assert all(victim not in window for window in list(batcher.stats.recent)[windows_before:])
    assert get_job(victim).state == "cancelled"
    other = next(j for j in jobs if j != victim)
    assert get_job(other).state == "completed"


def _accounted(batcher: Any, job_id: str) -> bool:
    """``job_id`` is in the model's current call, waiting for the model, or done."""
    return (
        job_id in batcher.stats.recent[-1]
        or batcher.pending(job_id) > 0
        or get_job(job_id).state not in ("queued", "processing")
    )
