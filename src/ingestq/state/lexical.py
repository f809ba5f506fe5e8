"""The lexical index: every chunk's text beside its vector, searchable by keyword (BM25).

Identifiers must be findable as typed: ``json.dumps()``, ``os.O_PATH``, ``RFC
5322``, ``--chunk-tokens``. The index's tokenizer (FTS5's unicode61, with ``_``
kept inside words) splits on dots and dashes, which would turn ``json.dumps``
into two common words; so each identifier, and each name followed by a number,
is also indexed as one joined term (``json_dumps``, ``rfc5322``), and a query is
read the same way. Matching the joined term then outranks matching its parts.

Rows are written with their chunks and deleted with them (see
:mod:`ingestq.pipeline.chunks`), so the index holds exactly what the vector
store holds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ingestq.state import lexical_pg
from ingestq.state.db import Database, fetchval

#: Dotted, colon- or dash-joined names (json.dumps, os.O_PATH, click.Context.invoke,
#: std::vector, utf-8) and command-line flags (--chunk-tokens, -k).
_IDENTIFIER = re.compile(r"(?<![\w.-])(?:--?[A-Za-z][\w-]*|[A-Za-z_]\w*(?:(?:\.|::?|-)\w+)+)")
#: A name and its number: RFC 5322, PEP 8, ISO-8601, HTTP/2.
_NUMBERED = re.compile(r"\b([A-Za-z]{2,})[ /-]?(\d{1,5})\b")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class ChunkRow:
    """A chunk as the lexical index keeps it."""

    chunk_id: str
    job_id: str
    collection: str
    source: str
    chunk_index: int
    page: int | None
    section: str | None
    text: str


@dataclass(frozen=True)
class LexicalHit:
    row: ChunkRow
    score: float  # BM25: higher is better


def terms(text: str) -> str:
    """What the index holds for ``text``: the text, then its joined identifiers."""
    joined = [_joined(m) for m in _IDENTIFIER.findall(text)]
    joined += [f"{name}{number}" for name, number in _NUMBERED.findall(text)]
    return text + "\n" + " ".join(joined) if joined else text


def names_only(query: str) -> bool:
    """Whether ``query`` is only names as typed: ``json.dumps()``, ``--flag``, ``RFC 5322``."""
    plain = query.replace("()", " ")
    rest = _NUMBERED.sub(" ", _IDENTIFIER.sub(" ", plain))
    return rest != plain and not _WORD.search(rest)


def _joined(identifier: str) -> str:
    return re.sub(r"\W+", "_", identifier).strip("_")


def match_expression(query: str) -> str:
    """The FTS5 query for what a user typed: any of its words or joined identifiers."""
    return _any_of(_query_words(query))


def _query_words(query: str) -> list[str]:
    words = _WORD.findall(terms(query))
    return list(dict.fromkeys(w.lower() for w in words if w.strip("_")))


def _any_of(words: Sequence[str]) -> str:
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def _fts_hits(db: Database, words: Sequence[str]) -> dict[str, int]:
    """How many rows of the FTS5 index hold each word, from its vocabulary table.

    A word the tokenizer would split (not one term) is left out: it is then
    kept, as a rare one is.
    """
    hits: dict[str, int] = {}
    for word in words:
        term = lexical_pg.tokens(word)
        if len(term) == 1:
            found = fetchval(db, "SELECT doc FROM chunks_fts_vocab WHERE term = ?", (term[0],))
            hits[word] = int(found or 0)
    return hits


def _on_postgres(db: Database) -> bool:
    # PostgreSQL's full-text search differs from FTS5 in its statements alone:
    # those are in lexical_pg; what a term is and how rows rank are the same.
    return db.dialect == "postgresql"


def index_chunks(db: Database, rows: Sequence[ChunkRow]) -> None:
    """Add chunks to the index, in one transaction."""
    with db.transaction():
        for row in rows:
            if _on_postgres(db):
                lexical_pg.insert(db, row, terms(row.text))
                continue
            inserted = db.fetchone(
                "INSERT INTO chunks (chunk_id, job_id, collection, source, chunk_index, page,"
                " section, text) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                (
                    row.chunk_id,
                    row.job_id,
                    row.collection,
                    row.source,
                    row.chunk_index,
                    row.page,
                    row.section,
                    row.text,
                ),
            )
            assert inserted is not None
            db.execute(
                "INSERT INTO chunks_fts (rowid, terms) VALUES (?, ?)",
                (inserted["id"], terms(row.text)),
            )


def delete_job(db: Database, collection: str, job_id: str) -> None:
    """Drop every chunk a job wrote."""
    _delete(db, "collection = ? AND job_id = ?", (collection, job_id))


def delete_document(
    db: Database, collection: str, source: str, *, keep_job: str | None = None
) -> None:
    """Drop every chunk of a document, except those ``keep_job`` wrote."""
    if keep_job is None:
        _delete(db, "collection = ? AND source = ?", (collection, source))
    else:
        _delete(db, "collection = ? AND source = ? AND job_id != ?", (collection, source, keep_job))


def _delete(db: Database, where: str, params: tuple[str, ...]) -> None:
    with db.transaction():
        if _on_postgres(db):  # no separate FTS table: the terms are a column
            db.execute(f"DELETE FROM chunks WHERE {where}", params)
            return
        db.execute(
            f"DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE {where})", params
        )
        db.execute(f"DELETE FROM chunks WHERE {where}", params)


def delete_chunks(db: Database, ids: Sequence[str]) -> None:
    """Drop chunks by id."""
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        _delete(db, f"chunk_id IN ({','.join('?' * len(part))})", tuple(part))


def search(
    db: Database, collection: str, query: str, limit: int, *, prune: bool = True
) -> list[LexicalHit]:
    """The ``limit`` chunks of ``collection`` that best match ``query`` by BM25, best first.

    With ``prune`` (the default), words that at least half of all chunks hold are
    not matched (:func:`lexical_pg.informative`): they weigh nothing in BM25, and
    matching them would score nearly every chunk.
    """
    if _on_postgres(db):
        words = list(dict.fromkeys(lexical_pg.tokens(terms(query))))
        found = lexical_pg.search(db, collection, words, limit, prune=prune)
        return [LexicalHit(ChunkRow(**_without(r, "score")), float(r["score"])) for r in found]
    words = _query_words(query)
    if prune and words:
        # FTS5's bm25() counts N and n over the whole index, every collection.
        total = int(fetchval(db, "SELECT count(*) FROM chunks") or 0)
        words = lexical_pg.informative(words, _fts_hits(db, words), total)
    expression = _any_of(words)
    if not expression:
        return []
    rows = db.fetchall(
        "SELECT c.chunk_id, c.job_id, c.collection, c.source, c.chunk_index, c.page, c.section,"
        " c.text, bm25(chunks_fts) AS rank FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid"
        " WHERE chunks_fts MATCH ? AND c.collection = ? ORDER BY rank LIMIT ?",
        (expression, collection, limit),
    )
    # FTS5's bm25() is smaller for better matches; ours reads the usual way round.
    return [LexicalHit(ChunkRow(**_without(r, "rank")), -float(r["rank"])) for r in rows]


def _without(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != key}


def chunk_ids(db: Database, collection: str) -> set[str]:
    """Every chunk id the index holds for ``collection``."""
    rows = db.fetchall("SELECT chunk_id FROM chunks WHERE collection = ?", (collection,))
    return {r["chunk_id"] for r in rows}


def count(db: Database, collection: str | None = None) -> int:
    """Chunks in the index, in one collection or in all."""
    if collection is None:
        return int(fetchval(db, "SELECT count(*) FROM chunks") or 0)
    return int(fetchval(db, "SELECT count(*) FROM chunks WHERE collection = ?", (collection,)) or 0)
