"""``search``: the chunks that answer a query, by meaning, by keyword, or both.

Three rankings (see docs/search.md for when to use which):

- ``vector``: the query's embedding against the chunks' (the model that built
  the collection, run on ONNX Runtime: no torch on this path);
- ``lexical``: BM25 over the lexical index, which finds identifiers as typed;
- ``hybrid`` (the default): both, fused by reciprocal rank, each ranking's top
  :data:`CANDIDATES` taken and each chunk scored ``sum(weight / (RRF_K + rank))``.
  The weights are equal, except that a query made only of names as typed
  (``click.Context.invoke``, ``--chunk-tokens``) gives the lexical ranking
  :data:`NAME_WEIGHT`: such a query asks for the chunk that holds the name,
  which exact matching finds and meaning only approaches.

A :class:`Searcher` keeps the store, the model and the state database open, so
a script that sends many queries pays for them once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from ingestq.config import DEFAULT_COLLECTION, Settings
from ingestq.embed.base import Embedder
from ingestq.errors import NotFoundError, UsageError
from ingestq.state import lexical, open_state
from ingestq.state.db import Database

MODES = ("hybrid", "vector", "lexical")
#: Reciprocal rank fusion's constant: the published default, which our evaluation
#: found no reason to move (see benchmarks/retrieval.py).
RRF_K = 60
#: The lexical ranking's weight for a query of names only. On the evaluation's
#: 556 name queries it lifts hybrid's chunk MRR@10 from 0.49 (equal weights) to
#: 0.59, near lexical's own 0.62, and leaves the natural-language queries as they
#: were; larger weights gain little more.
NAME_WEIGHT = 10.0
#: How deep each ranking is read before fusing.
CANDIDATES = 100
SNIPPET_CHARS = 240


@dataclass(frozen=True)
class Hit:
    """One search result."""

    rank: int
    score: float  # hybrid: the fused score; vector: cosine similarity; lexical: BM25
    source: str
    page: int | None
    section: str | None
    job_id: str
    chunk_id: str
    text: str
    #: What each ranking made of it: {"vector": {"rank": 3, "score": 0.61}, ...}
    rankers: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self, query: str = "") -> dict[str, Any]:
        """The hit as ``search --json`` (and the API) show it."""
        return {
            "rank": self.rank,
            "score": self.score,
            "source": self.source,
            "page": self.page,
            "section": self.section,
            "job_id": self.job_id,
            "chunk_id": self.chunk_id,
            "snippet": self.snippet(query),
            "text": self.text,
            "rankers": self.rankers,
        }

    def snippet(self, query: str = "", width: int = SNIPPET_CHARS) -> str:
        """The part of the text around the first word of ``query`` it holds, on one line."""
        text = " ".join(self.text.split())
        if len(text) <= width:
            return text
        start = 0
        for word in re.findall(r"\w{3,}", query):
            found = text.lower().find(word.lower())
            if found >= 0:
                start = max(0, found - width // 4)
                break
        piece = text[start : start + width - 1]
        return ("…" if start else "") + piece + "…"


class Searcher:
    """Searches one collection; open once, ask many times."""

    def __init__(
        self, settings: Settings, collection: str = DEFAULT_COLLECTION, mode: str = "hybrid"
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"{{mode}} {mode!r}: use one of {', '.join(MODES)}", params=("mode",))
        self.settings, self.collection, self.mode = settings, collection, mode
        self._db: Database = open_state(settings)
        self._store: Any = None
        self._embedder: Future[Embedder] | None = None
        if mode != "lexical":
            self._embedder = _load_in_background(settings)
            try:
                from ingestq.store import open_vector_store

                self._store = open_vector_store(settings, create=False)
                self._store.check_collection(collection, settings.model)
            except BaseException:
                self.close()
                raise
        elif not lexical.count(self._db, collection):
            raise NotFoundError(f"collection {collection!r} has no indexed text")

    def close(self) -> None:
        # A thread still inside ONNX Runtime's native code when the interpreter
        # exits aborts the process ("terminate called"): let the load finish.
        if self._embedder is not None:
            wait([self._embedder])
        self._db.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` chunks that best answer ``query``, best first."""
        check_query(query, k)
        depth = max(k, CANDIDATES) if self.mode == "hybrid" else k
        rankings: dict[str, list[Hit]] = {}
        if self.mode != "lexical":
            rankings["vector"] = self._by_vector(query, depth)
        if self.mode != "vector":
            rankings["lexical"] = self._by_keyword(query, depth)
        if self.mode != "hybrid":
            return rankings[self.mode][:k]
        weights = {"lexical": NAME_WEIGHT} if lexical.names_only(query) else {}
        return fuse(rankings, k, weights)

    def _by_vector(self, query: str, depth: int) -> list[Hit]:
        assert self._embedder is not None
        vector = self._embedder.result().encode([query])[0]
        return [
            _hit(h.rank, h.score, h, "vector")
            for h in self._store.query(self.collection, vector, depth)
        ]

    def _by_keyword(self, query: str, depth: int) -> list[Hit]:
        found = lexical.search(self._db, self.collection, query, depth)
        return [_hit(rank, h.score, h.row, "lexical") for rank, h in enumerate(found, start=1)]


def _load_in_background(settings: Settings) -> Future[Embedder]:
    """The model, loading in a thread while this one opens the vector store.

    Both take a few tenths of a second, mostly in native code, so on two cores
    a cold search waits for the longer of them rather than the sum.
    """
    import numpy  # noqa: F401 - both sides import it: first here, not in a race

    from ingestq.embed import load_embedder

    loaded: Future[Embedder] = Future()

    def load() -> None:
        try:
            loaded.set_result(load_embedder(settings))
        except BaseException as exc:
            loaded.set_exception(exc)

    threading.Thread(target=load, name="ingestq-model", daemon=True).start()
    return loaded


def _hit(rank: int, score: float, found: Any, ranker: str) -> Hit:
    """A hit from one ranking, with that ranking's view of it."""
    score = round(score, 4)
    return Hit(
        rank=rank,
        score=score,
        source=found.source,
        page=found.page,
        section=found.section,
        job_id=found.job_id,
        chunk_id=found.chunk_id,
        text=found.text,
        rankers={ranker: {"rank": rank, "score": score}},
    )


def fuse(
    rankings: dict[str, list[Hit]], k: int, weights: dict[str, float] | None = None
) -> list[Hit]:
    """Weighted reciprocal rank fusion of ``rankings`` (weight 1 unless given).

    The ``k`` best, each with every ranking's view of it.
    """
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    views: dict[str, dict[str, dict[str, float]]] = {}
    for name, ranking in rankings.items():
        weight = (weights or {}).get(name, 1.0)
        for hit in ranking:
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight / (RRF_K + hit.rank)
            first.setdefault(hit.chunk_id, hit)
            views.setdefault(hit.chunk_id, {}).update(hit.rankers)
    best = sorted(scores, key=lambda chunk: (-scores[chunk], chunk))[:k]
    return [
        replace(first[c], rank=rank, score=round(scores[c], 6), rankers=views[c])
        for rank, c in enumerate(best, start=1)
    ]


def check_query(query: str, k: int) -> None:
    """A :class:`UsageError` for an empty query or a ``k`` below 1."""
    if not query.strip():
        raise UsageError("the search query is empty")
    if k < 1:
        raise UsageError("{k} must be at least 1", params=("k",))


_FRESH = threading.Lock()


@contextmanager
def fresh_vectors(settings: Settings) -> Iterator[None]:
    """Read the vector store as other processes left it, one reader at a time.

    For a long-lived process (``serve``): an embedded Chroma client keeps its
    index in memory and would never see what the worker added since it opened,
    so each use opens it anew. A Chroma server needs none of this.
    """
    if settings.chroma_url:
        yield
        return
    from ingestq.store import release_vector_store

    with _FRESH:
        release_vector_store(settings)
        yield


def search(
    settings: Settings,
    query: str,
    *,
    k: int = 5,
    collection: str = DEFAULT_COLLECTION,
    mode: str = "hybrid",
) -> list[Hit]:
    """The ``k`` chunks of ``collection`` that best answer ``query``, best first."""
    check_query(query, k)
    with Searcher(settings, collection, mode) as searcher:
        return searcher.search(query, k)
