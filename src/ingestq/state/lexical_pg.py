"""The lexical index on PostgreSQL: the statements that differ from SQLite's FTS5.

PostgreSQL's full-text search stores and matches; the tokenising and the
ranking are made to agree with FTS5's, so fused results do not depend on where
the state lives:

- the terms are tokenised here, as FTS5's ``unicode61`` tokenizer does (case
  and diacritics folded, ``_`` kept inside words), and stored as a tsvector
  with their positions, so PostgreSQL's own parser never splits ``json_dumps``;
- the ranking is BM25 with FTS5's constants (k1 = 1.2, b = 0.75, and FTS5's
  floor for the weight of a term most rows hold), over the whole index as FTS5
  counts it. A GIN index finds the rows that hold any query term.

Both databases drop a query's common words before the match (:func:`informative`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ingestq.state.db import Database, Row

if TYPE_CHECKING:
    from ingestq.state.lexical import ChunkRow

_TOKEN = re.compile(r"\w+")
#: tsvector limits: positions run to 16383, and a lexeme keeps at most 256 of them.
_MAX_POSITION = 16383
_MAX_POSITIONS = 256
K1, B = 1.2, 0.75


def tokens(text: str) -> list[str]:
    """The words of ``text`` as FTS5's ``unicode61 remove_diacritics 2`` makes them."""
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return [t for t in _TOKEN.findall(plain) if t.strip("_")]


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector(words: Sequence[str]) -> str:
    """A tsvector literal holding ``words`` at their positions (1-based)."""
    positions: dict[str, list[int]] = {}
    for at, word in enumerate(words, start=1):
        kept = positions.setdefault(word, [])
        if len(kept) < _MAX_POSITIONS:
            kept.append(min(at, _MAX_POSITION))
    return " ".join(f"{_quote(w)}:{','.join(map(str, at))}" for w, at in positions.items())


def tsquery(words: Sequence[str]) -> str:
    """A tsquery literal matching a row that holds any of ``words``."""
    return " | ".join(_quote(w) for w in words)


def insert(db: Database, row: ChunkRow, indexed: str) -> None:
    words = tokens(indexed)
    db.execute(
        "INSERT INTO chunks (chunk_id, job_id, collection, source, chunk_index, page, section,"
        " text, terms, length) VALUES (?,?,?,?,?,?,?,?,?::tsvector,?)",
        (
            row.chunk_id,
            row.job_id,
            row.collection,
            row.source,
            row.chunk_index,
            row.page,
            row.section,
            row.text,
            tsvector(words),
            len(words),
        ),
    )


def search(
    db: Database, collection: str, words: Sequence[str], limit: int, *, prune: bool = True
) -> list[Row]:
    """The rows that best match ``words`` by BM25, best first, each with its ``score``.

    With ``prune``, the words too common to weigh anything are dropped first
    (see :func:`informative`).
    """
    stats = db.fetchone("SELECT count(*) AS n, avg(length) AS avgdl FROM chunks")
    total = int(stats["n"]) if stats else 0
    if not total or not words:
        return []
    avgdl = float(stats["avgdl"] or 1.0) if stats else 1.0
    hits = {word: _hits(db, word) for word in words}
    if prune:
        words = informative(words, hits, total)
    weights = [idf(total, hits[word]) for word in words]
    return db.fetchall(
        "SELECT c.chunk_id, c.job_id, c.collection, c.source, c.chunk_index, c.page, c.section,"
        " c.text, (SELECT sum(q.idf * cardinality(u.positions) * ?"
        " / (cardinality(u.positions) + ? * (1 - ? + ? * c.length / ?)))"
        " FROM unnest(c.terms) AS u JOIN unnest(?::text[], ?::float8[]) AS q (term, idf)"
        " ON q.term = u.lexeme) AS score"
        " FROM chunks c WHERE c.terms @@ ?::tsquery AND c.collection = ?"
        " ORDER BY score DESC, c.id LIMIT ?",
        (
            K1 + 1,
            K1,
            B,
            B,
            avgdl,
            list(words),
            weights,
            tsquery(words),
            collection,
            limit,
        ),
    )


def informative(words: Sequence[str], hits: dict[str, int], total: int) -> list[str]:
    """``words`` without those that at least half the ``total`` rows hold; never none.

    BM25's weight of a word in ``n`` of ``N`` rows is log((N - n + 0.5) / (n + 0.5)),
    which is 0 or less exactly when 2n >= N; FTS5 (and :func:`idf`) then floors it
    at 1e-6. Such a word ("the", "of", "are") changes a score by at most
    1e-6 * (k1 + 1), so dropping it leaves the ranking as it was, but matching it
    would make the query score nearly every row. The rarest word is always
    kept, so a query of common words alone still finds rows.
    """
    kept = [w for w in words if 2 * hits.get(w, 0) < total]
    if kept or not words:
        return kept
    return [min(words, key=lambda w: hits.get(w, 0))]


def _hits(db: Database, word: str) -> int:
    """How many rows (of every collection, as FTS5 counts) hold ``word``."""
    row = db.fetchone(
        "SELECT count(*) AS n FROM chunks WHERE terms @@ ?::tsquery", (tsquery([word]),)
    )
    return int(row["n"]) if row else 0


def idf(total: int, hits: int) -> float:
    """FTS5's inverse document frequency of a word in ``hits`` of ``total`` rows, floored."""
    weight = math.log((total - hits + 0.5) / (hits + 0.5))
    return weight if weight > 0 else 1e-6
