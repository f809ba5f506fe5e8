"""The lexical search drops a query's common words (those at least half the chunks
hold, whose BM25 weight is floored to nothing) and ranks as it did with them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import state
from ingestq.state import lexical, lexical_pg

pytestmark = pytest.mark.usefixtures("backend")

# 12 chunks: "the" is in all of them, "of" in 9 and "are" in 6 (at least half:
# weightless; 6 of 12 is the boundary, log(6.5 / 6.5) = 0); "apples", "pears",
# "orchard" and "ripe" in fewer, at various counts and chunk lengths so that no
# two chunks score the same on them (a tie would be ordered by the floored weights).
TEXTS = [
    "the apples of the orchard are ripe and the apples are red",
    "the pears are green",
    "the orchard of old trees",
    "the apples of winter keep well in the cold cellar of the house",
    "ripe pears of the south are sweet",
    "the ranking of the fruit",
    "the weather of the north are cold winds",
    "the apples are sold at the market of the town on early sunday mornings",
    "the road",
    "a note on the history of the valley and the river that runs through it",
    "the orchard keeper and the pears he grows are famous",
    "the end of the story",
]
QUERIES = [
    "what are the apples of the orchard",
    "the ripe pears",
    "are the pears of the orchard ripe",
    "history of the apples",
]


@pytest.fixture
def db() -> Iterator[Any]:
    found = state()
    rows = [
        lexical.ChunkRow(f"job:{i}", "job", "default", "doc.txt", i, None, None, text)
        for i, text in enumerate(TEXTS)
    ]
    lexical.index_chunks(found, rows)
    try:
        yield found
    finally:
        found.close()


def _holding(word: str) -> int:
    return sum(word in text.split() for text in TEXTS)


def test_the_threshold_is_where_bm25_weighs_a_word_nothing() -> None:
    total = 12
    for hits in range(total + 1):
        raw = lexical_pg.idf(total, hits)
        dropped = not lexical_pg.informative(["w", "rare"], {"w": hits, "rare": 0}, total).count(
            "w"
        )
        # Dropped exactly when BM25 floors the word's weight.
        assert dropped == (raw == 1e-6), hits
    assert [_holding(w) for w in ("the", "of", "are")] == [12, 9, 6]


@pytest.mark.parametrize("query", QUERIES)
def test_common_words_are_dropped_and_the_ranking_stays(db: Any, query: str) -> None:
    pruned = lexical.search(db, "default", query, 50)
    full = lexical.search(db, "default", query, 50, prune=False)
    assert pruned, query
    # Without the common words the same chunks come first, in the same order,
    # with the same scores but for the floored weights (1e-6 * (k1 + 1) a word).
    assert [h.row.chunk_id for h in pruned] == [h.row.chunk_id for h in full[: len(pruned)]]
    for kept, was in zip(pruned, full, strict=False):
        assert kept.score == pytest.approx(was.score, abs=1e-5)
    # What is left out matched only common words: it scored (almost) nothing.
    assert len(full) > len(pruned)
    assert all(h.score < 1e-5 for h in full[len(pruned) :])
    assert all(h.score > 1e-3 for h in pruned)


def test_a_query_of_common_words_alone_still_finds_chunks(db: Any) -> None:
    hits = lexical.search(db, "default", "the of are", 50)
    # The rarest of them, "are", is kept: exactly the chunks that hold it.
    assert sorted(h.row.chunk_id for h in hits) == sorted(
        f"job:{i}" for i, text in enumerate(TEXTS) if "are" in text.split()
    )
    assert len(lexical.search(db, "default", "the of are", 50, prune=False)) == len(TEXTS)
