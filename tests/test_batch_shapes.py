"""The embedding loop's batches: texts of very different lengths are not padded together.

A batch costs its size times its longest text, so short topic phrases given to
the model beside a chunk of 200 words each cost as much as the chunk (13x the
time, measured). The real packaged model, behind a recorder of its calls.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

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
