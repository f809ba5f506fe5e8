"""The embedding loop's batches: texts of very different lengths are not padded together.

A batch costs its size times its longest text, so short topic phrases given to
the model beside a chunk of 200 words each cost as much as the chunk (13x the
time, measured). The real packaged model, behind a recorder of its calls.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from ingestq.embed.batcher import SHORT, SPREAD, BatchingEmbedder, even_batches

WORDS = ["elitr", "magna", "nonumy", "eirmod", "tempor", "sed diam", "lorem ipsum dolor"]
CHUNK = "Lorem ipsum dolor sit amet, consetetur sadipscing elitr, sed diam nonumy. " * 12


class Recorder:
    """The real model; each call's texts are recorded, and the first call waits for
    the test's go-ahead (so the requests sent meanwhile share the next window)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens
        self.calls: list[list[str]] = []
        self.go = threading.Event()

    def chunker(self, tokens: int | None = None, overlap: int | None = None) -> Any:
        return self.inner.chunker(tokens, overlap)

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        self.go.wait(60)
        self.calls.append(list(texts))
        return self.inner.encode(texts, batch_size)


def test_even_batches_cut_where_the_length_jumps() -> None:
    texts = sorted(["a" * n for n in (3, 5, 8, 40, 120, 300, 500, 610, 2000)], key=len)
    batches = even_batches(texts, 64)
    assert [t for b in batches for t in b] == texts  # all of them, in order
    for batch in batches:
        assert len(batch[-1]) <= max(SPREAD * len(batch[0]), SHORT)
    assert [len(b) for b in batches] == [5, 2, 1, 1]  # up to 128; 300, 500; 610; 2000
    assert [len(b) for b in even_batches(["x"] * 10, 4)] == [4, 4, 2]  # and the batch size


def test_a_window_of_phrases_and_a_chunk_is_two_batches(embedder: Any) -> None:
    model = Recorder(embedder)
    loop = BatchingEmbedder(model, batch_size=64)
    results: dict[str, Any] = {}

    def submit(name: str, texts: list[str]) -> None:
        results[name] = loop.submit(texts, owner=name)

    first = threading.Thread(target=submit, args=("first", ["held"]))
    first.start()
    while not loop.stats.recent:  # the model has the first request
        threading.Event().wait(0.01)
    others = [
        threading.Thread(target=submit, args=("words", WORDS)),
        threading.Thread(target=submit, args=("chunk", [CHUNK])),
    ]
    for thread in others:
        thread.start()
    while loop.pending("words") + loop.pending("chunk") < len(WORDS) + 1:
        threading.Event().wait(0.01)
    model.go.set()
    for thread in [first, *others]:
        thread.join(60)
    loop.close()

    assert loop.stats.recent[-1] == ("words", "chunk")  # one window...
    assert model.calls[1:] == [sorted(WORDS, key=len), [CHUNK]]  # ...two batches
    # Each request has its own rows, equal to its texts encoded alone.
    assert np.abs(results["words"] - embedder.encode(WORDS, 64)).max() < 1e-5
    assert np.abs(results["chunk"] - embedder.encode([CHUNK], 64)).max() < 1e-5


def _one_waiting_job(loop: BatchingEmbedder) -> tuple[threading.Thread, dict[str, Any]]:
    """Job "a" submits one text while job "b" is in flight with nothing pending:
    the case where a loop that lingers waits for b's texts."""
    from ingestq.embed.batcher import job_scope

    got: dict[str, Any] = {}
    b_in_flight, a_done = threading.Event(), threading.Event()

    def b() -> None:
        with job_scope("b"):
            b_in_flight.set()
            a_done.wait(120)

    def a() -> None:
        b_in_flight.wait(60)
        try:
            with job_scope("a"):
                got["rows"] = loop.encode(["one lonely text"])
        except RuntimeError as exc:  # the loop closed while a waited
            got["error"] = exc
        finally:
            a_done.set()

    threads = [threading.Thread(target=b), threading.Thread(target=a)]
    for thread in threads:
        thread.start()
    return threads[1], got


def test_on_the_cpu_the_loop_does_not_wait_for_batch_mates(
    embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingestq.embed import batcher

    # A text costs the same alone as in a full CPU batch: waiting would idle the model.
    monkeypatch.setattr(batcher, "LINGER_S", 600.0)
    assert batcher.linger_for("cpu") == 0.0 and batcher.linger_for("cuda:0") == 600.0
    cpu = BatchingEmbedder(embedder, batch_size=8, linger_s=batcher.linger_for("cpu"))
    thread, got = _one_waiting_job(cpu)
    thread.join(60)
    assert not thread.is_alive() and got["rows"].shape == (1, embedder.dimension)
    cpu.close()
    # A GPU's loop waits for b (600 s here) before it runs a batch of one.
    gpu = BatchingEmbedder(embedder, batch_size=8, linger_s=batcher.linger_for("cuda:0"))
    thread, got = _one_waiting_job(gpu)
    thread.join(2)
    assert thread.is_alive() and gpu.pending("a") == 1
    gpu.close()  # fails the waiting request, which ends the threads
    thread.join(60)
    assert "rows" not in got and "closed" in str(got["error"])


def test_small_model_batches_and_whole_steps_to_the_store(
    embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the CPU's batch of 8 the model takes 8 texts a call, but a job still
    writes 64 chunks at a time (each write is a round trip to the store), and its
    vectors are those of its chunks encoded 64 at a time."""
    import json

    from conftest import FOUR_PAGES, corpus, iq
    from ingestq.config import load_settings
    from ingestq.pipeline.chunks import ChunkIndex
    from ingestq.pipeline.index import STEP
    from ingestq.store import open_vector_store
    from ingestq.worker.worker import Worker, WorkerOptions

    writes: list[int] = []
    add = ChunkIndex.add

    def counted(self: ChunkIndex, collection: str, ids: list[str], *rest: Any) -> None:
        writes.append(len(ids))
        add(self, collection, ids, *rest)

    monkeypatch.setattr(ChunkIndex, "add", counted)
    monkeypatch.setenv("INGESTQ_EMBED_BATCH", "8")
    # Short chunks: many steps from a short document.
    out = iq("add", str(corpus(FOUR_PAGES)), "--chunk-tokens", "24", "--json", check=True).stdout
    [job_id] = [entry["id"] for entry in json.loads(out)]
    model = Recorder(embedder)
    model.go.set()
    Worker(load_settings(), model).run(WorkerOptions(burst=True))

    records = open_vector_store(load_settings()).records("default", vectors=True)
    mine = [r for r in records if r["metadata"]["job_id"] == job_id]
    assert len(mine) > STEP
    assert max(len(call) for call in model.calls) == 8
    assert writes[:-1] == [STEP] * (len(writes) - 1) and sum(writes) == len(mine)
    stored = {r["text"]: r["embedding"] for r in mine}
    texts = list(stored)
    alone = embedder.encode(texts, 64)
    assert np.abs(np.array([stored[t] for t in texts]) - alone).max() < 1e-5
