"""Copying a state database into another: for ``ingestq migrate-home``.

Rows keep their ids, so what refers to them (events to jobs, chunks to the
vector store's records) still does, and a copy can be run again: a row the
target already holds is skipped (``ON CONFLICT DO NOTHING``), one it lacks is
added. Each batch is one transaction, so a copy that stops half-way leaves
whole batches, and the next run adds the rest.

The target is PostgreSQL: its lexical index is the ``terms`` column of
``chunks``, computed here from each chunk's text as :mod:`lexical` does when a
worker writes it. The workers and leases of the source are not copied: they
describe processes, not data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingestq.errors import StateError
from ingestq.state import lexical, lexical_pg
from ingestq.state.db import Database, Row

#: The tables copied, parents first (events and callbacks name jobs), each with its key.
TABLES: dict[str, tuple[str, ...]] = {
    "jobs": ("id",),
    "events": ("id",),
    "callbacks": ("id",),
    "sources": ("collection", "kind", "key"),
    "chunks": ("id",),
    "tokens": ("id",),  # the API's tokens (hashed): its users keep working after a move
    # What `add --sync` saw of each file: the first sync after a move reads nothing again.
    "file_stats": ("collection", "path"),
}
#: Tables whose integer ids come from an identity sequence on PostgreSQL.
_IDENTITIES = ("events", "callbacks", "chunks")
#: PostgreSQL takes at most 65,535 parameters in one statement.
_MAX_PARAMS = 60000


@dataclass
class Copied:
    """Rows of one table: how many the source holds, and how many were added."""

    rows: int = 0
    added: int = 0

    @property
    def present(self) -> int:
        """Rows the target held already (an earlier run copied them)."""
        return self.rows - self.added


def foreign_jobs(source: Database, target: Database) -> int:
    """How many jobs the target holds that the source does not: another deployment's."""
    mine = {r["id"] for r in source.fetchall("SELECT id FROM jobs")}
    theirs = {r["id"] for r in target.fetchall("SELECT id FROM jobs")}
    return len(theirs - mine)


def copy_table(
    source: Database,
    target: Database,
    table: str,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> Copied:
    """Copy every row of ``table`` the target lacks, ``batch`` rows to a transaction."""
    if target.dialect != "postgresql":
        raise StateError("the state can be copied to PostgreSQL only")
    keys = TABLES[table]
    order = ", ".join(keys)
    after = f"({order}) > ({', '.join('?' * len(keys))})"
    done = Copied()
    last: tuple[Any, ...] | None = None
    while True:
        where = f" WHERE {after}" if last is not None else ""
        rows = source.fetchall(
            f"SELECT * FROM {table}{where} ORDER BY {order} LIMIT ?", (*(last or ()), batch)
        )
        if not rows:
            return done
        per = max(1, _MAX_PARAMS // (len(rows[0]) + 2))
        for start in range(0, len(rows), per):
            done.added += _insert(target, table, rows[start : start + per])
        done.rows += len(rows)
        if progress is not None:
            progress(done.rows)
        last = tuple(rows[-1][k] for k in keys)


def _insert(target: Database, table: str, rows: list[Row]) -> int:
    """Insert ``rows`` in one statement and transaction; return how many were new."""
    columns = list(rows[0])
    marks = "(" + ",".join("?" * len(columns)) + ")"
    values: list[Any] = []
    for row in rows:
        values += [row[c] for c in columns]
    if table == "chunks":  # its lexical terms, as a worker writes them
        columns += ["terms", "length"]
        marks = marks[:-1] + ",?::tsvector,?)"
        values = []
        for row in rows:
            words = lexical_pg.tokens(lexical.terms(row["text"] or ""))
            values += [row[c] for c in columns[:-2]] + [lexical_pg.tsvector(words), len(words)]
    with target.transaction():
        added = target.fetchall(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {','.join([marks] * len(rows))}"
            " ON CONFLICT DO NOTHING RETURNING 1",
            values,
        )
    return len(added)


def bump_identities(target: Database) -> None:
    """Move each identity sequence past the ids copied in, so new rows get new ids."""
    for table in _IDENTITIES:
        target.fetchone(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )


def blob_digests(db: Database) -> list[str]:
    """The content hash of every stored copy the jobs name."""
    rows = db.fetchall(
        "SELECT DISTINCT content_hash FROM jobs WHERE content_hash IS NOT NULL"
        " AND content_hash != '' ORDER BY content_hash"
    )
    return [r["content_hash"] for r in rows]
