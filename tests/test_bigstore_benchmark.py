"""The big-store benchmark's synthetic data and its exact search (benchmarks/bigdata.py):
what its recall figure is measured against must itself be right."""

from __future__ import annotations

import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bigdata


def test_vectors_are_unit_length_and_queries_have_true_neighbours() -> None:
    stored = bigdata.vectors(2_000)
    assert stored.shape == (2_000, bigdata.DIM)
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)
    queries = bigdata.query_vectors(stored, 20)
    sims = np.sort(queries @ stored.T, axis=1)
    assert (sims[:, -1] > 0.9).all()  # the vector each query was made from
    assert (sims[:, -10] > 0.4).all()  # and cluster mates: a top 10 that means something
    assert (np.median(sims, axis=1) < 0.1).all()  # against a background of strangers


def test_exact_top_is_the_full_sort() -> None:
    rng = np.random.default_rng(5)
    stored = rng.standard_normal((500, 8)).astype(np.float32)
    queries = rng.standard_normal((120, 8)).astype(np.float32)
    expected = np.argsort(-(queries @ stored.T), axis=1)[:, :10]
    assert (bigdata.exact_top(stored, queries, 10) == expected).all()


def test_texts_follow_the_vocabulary() -> None:
    words, probs = bigdata.vocabulary()
    assert words[0] == "the" and abs(probs.sum() - 1) < 1e-9
    blocks = list(bigdata.texts(12, block=5))
    assert [len(b) for b in blocks] == [5, 5, 2]
    assert all(len(t.split()) == bigdata.WORDS_PER_CHUNK for b in blocks for t in b)
