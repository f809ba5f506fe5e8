"""Synthetic chunks for the big-store benchmark (bigstore.py): unit vectors with true
neighbours, texts with English's word frequencies, and queries of both kinds.

Vectors: ``n / CLUSTER`` random centres in 384 dimensions; each stored vector is its
centre plus noise, normalised (cosine to its centre about 0.78, to a cluster mate
about 0.6, to anything else about 0). A query vector is a stored vector plus a
little noise (cosine to it about 0.96), so its true top 10 is that vector and nine
mates: close scores, which is what makes recall hard, as with real embeddings.

Texts: 120 words each, drawn from the words of this project's own docs with a Zipf
law over their rank by frequency there (``the`` first), so the lexical index has
the long postings lists of real English and a query of common words is as costly
as it would be.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from common import ROOT

DIM = 384
CLUSTER = 100
WORDS_PER_CHUNK = 120
#: Queries as users type them: natural questions, a few words, an identifier.
QUERIES = (
    "how are the pages of this document laid out",
    "how are retries configured?",
    "what happens when a worker dies in the middle of a job",
    "search by keyword and by meaning",
    "delete a collection",
    "json.dumps",
    "the state database on PostgreSQL",
    "which model embeds the chunks",
    "where are blobs stored",
    "limits of the queue",
)


def vectors(n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors (float32) in clusters of :data:`CLUSTER`, made in blocks."""
    out = np.empty((n, DIM), dtype=np.float32)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // CLUSTER, 1), DIM)).astype(np.float32)
    for start in range(0, n, 50_000):
        end = min(start + 50_000, n)
        which = rng.integers(0, len(centres), end - start)
        noise = rng.standard_normal((end - start, DIM)).astype(np.float32) * 0.8
        block = centres[which] + noise
        out[start:end] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def query_vectors(stored: np.ndarray, count: int, seed: int = 1) -> np.ndarray:
    """``count`` queries near randomly chosen stored vectors."""
    rng = np.random.default_rng(seed)
    picked = stored[rng.choice(len(stored), count, replace=False)]
    noisy = picked + rng.standard_normal(picked.shape).astype(np.float32) * 0.3 / np.sqrt(DIM)
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def exact_top(stored: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The ids (row numbers) of each query's ``k`` nearest stored vectors, by brute force."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 50):
        sims = queries[start : start + 50] @ stored.T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[start : start + 50] = np.take_along_axis(top, order, axis=1)
    return out


def vocabulary() -> tuple[list[str], np.ndarray]:
    """The docs' words by frequency, and Zipf probabilities for them."""
    counts: Counter[str] = Counter()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        counts.update(w.lower() for w in re.findall(r"[A-Za-z]{2,}", path.read_text()))
    words = [w for w, _ in counts.most_common()]
    weights = 1.0 / np.arange(1, len(words) + 1)
    return words, weights / weights.sum()


def texts(n: int, seed: int = 2, block: int = 5_000) -> Iterator[list[str]]:
    """``n`` chunk texts, ``block`` at a time."""
    words, probs = vocabulary()
    vocab = np.array(words)
    rng = np.random.default_rng(seed)
    for start in range(0, n, block):
        size = min(block, n - start)
        drawn = vocab[rng.choice(len(vocab), (size, WORDS_PER_CHUNK), p=probs)]
        yield [" ".join(row) for row in drawn.tolist()]


def metadata(first: int, count: int) -> list[dict[str, Any]]:
    """What the worker stores beside a chunk: one document (job) per 20 chunks."""
    return [
        {
            "job_id": f"job{i // 20:07d}",
            "source": f"/docs/doc{i // 20:07d}.pdf",
            "chunk_index": i % 20,
            "page": i % 20 // 2 + 1,
            "tokens": 160,
        }
        for i in range(first, first + count)
    ]


def du(path: Path) -> int:
    """Bytes on disk under ``path`` (allocated blocks, as ``du`` counts)."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())
