"""Connections to the state database.

``state.db`` is the source of truth for every job. The queue (Huey) only carries
job ids; if the two disagree, the state database wins (see :mod:`ingestq.recovery`).

Connections use WAL, so readers never block the writer, and a generous busy
timeout, so an ``ingestq add`` run while the worker writes waits its turn instead
of failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ingestq.errors import StateError
from ingestq.migrations import MIGRATIONS

BUSY_TIMEOUT_S = 30.0


def utcnow() -> str:
    """Now as ISO 8601 in UTC, the one timestamp format of the state database."""
    return isoformat(datetime.now(UTC))


def parse_time(iso: str) -> datetime:
    """An ISO 8601 timestamp of ours back to an aware datetime."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def isoformat(when: datetime) -> str:
    """An aware datetime in the state database's format."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path``, creating it and applying pending migrations as needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN ourselves, so every transaction is
    # explicit and short.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StateError(f"{path} cannot be used: {exc}") from exc
    if version > len(MIGRATIONS):
        conn.close()
        raise StateError(
            f"{path} was written by a newer ingestq (schema {version}, this one "
            f"knows {len(MIGRATIONS)}); upgrade ingestq"
        )
    if version < len(MIGRATIONS):
        _migrate(conn)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction: all of it lands, or none of it.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so two writers queue on
    the busy timeout rather than failing mid-transaction on a lock upgrade.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _migrate(conn: sqlite3.Connection) -> None:
    # Imported here: sqlite-utils pulls in numpy, which the fast paths never need.
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    with transaction(conn):
        # Re-read under the write lock: another process may have migrated first.
        done = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, migration in enumerate(MIGRATIONS[done:], start=done + 1):
            migration(db)
            conn.execute(f"PRAGMA user_version = {number}")
