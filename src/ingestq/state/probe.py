"""A look at the state database that changes nothing: for ``ingestq doctor``.

:func:`open_state` brings a schema up to date and waits out a slow server;
a health check must do neither. :func:`probe` connects once, with a short
timeout, reads the server's version, the schema's and the workers seen lately,
and closes. A SQLite file is opened read-only, and one not made yet is said so.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestq.config import Settings
from ingestq.errors import StateError, UnreachableError
from ingestq.masking import mask, scrub
from ingestq.state.migrations import MIGRATIONS
from ingestq.state.workers import WorkerInfo
from ingestq.times import ago

_WORKERS = (
    "SELECT owner, host, pid, setup, started_at, seen_at FROM workers"
    " WHERE seen_at >= ? ORDER BY started_at, owner"
)
_WAITING = "SELECT count(*) FROM jobs WHERE state IN ('queued', 'retrying')"


@dataclass
class StateProbe:
    """What the state database said."""

    where: str  # a path, or the URL with its password masked
    exists: bool  # False: an embedded home that never wrote its state yet
    server_version: str
    schema: int  # migrations applied
    latest: int  # migrations this ingestq knows
    latency_ms: float
    waiting: int = 0  # jobs queued or retrying
    workers: list[WorkerInfo] = field(default_factory=list)


def probe(settings: Settings, timeout_s: float, workers_within_s: float) -> StateProbe:
    """Connect once to the state database of ``settings`` and read its health.

    :class:`UnreachableError` (the password masked) if it cannot be reached in
    ``timeout_s``; :class:`StateError` if it cannot be read.
    """
    if settings.database_url:
        return _postgres(settings.database_url, timeout_s, workers_within_s)
    return _sqlite(settings.state_db, timeout_s, workers_within_s)


def _sqlite(path: Path, timeout_s: float, within_s: float) -> StateProbe:
    found = StateProbe(
        str(path), path.exists(), f"SQLite {sqlite3.sqlite_version}", 0, len(MIGRATIONS), 0.0
    )
    if not found.exists:
        return found
    started = time.perf_counter()
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=timeout_s)
        try:
            found.schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
            found.latency_ms = (time.perf_counter() - started) * 1000
            _read(found, lambda sql, params=(): conn.execute(sql, params).fetchall(), within_s)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StateError(f"{path} cannot be read: {exc}") from None
    return found


def _postgres(url: str, timeout_s: float, within_s: float) -> StateProbe:
    import psycopg

    where = mask(url)
    started = time.perf_counter()
    try:
        # libpq counts whole seconds, and at least 2.
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(2, round(timeout_s)))
    except psycopg.Error as exc:
        reason = scrub(" ".join(str(exc).split()) or type(exc).__name__, url)[:300]
        raise UnreachableError(f"cannot reach the state database at {where}: {reason}") from None
    try:
        with conn:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false)", (str(int(timeout_s * 1000)),)
            )
            version = conn.execute("SHOW server_version").fetchone()
            latency = (time.perf_counter() - started) * 1000
            name = f"PostgreSQL {version[0] if version else '?'}"
            found = StateProbe(where, True, name, 0, len(MIGRATIONS), latency)
            exists = conn.execute("SELECT to_regclass('ingestq_schema') IS NOT NULL").fetchone()
            if exists and exists[0]:
                row = conn.execute("SELECT version FROM ingestq_schema").fetchone()
                found.schema = int(row[0]) if row else 0
            found.exists = found.schema > 0

            def fetch(sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
                return list(conn.execute(sql.replace("?", "%s"), params).fetchall())

            _read(found, fetch, within_s)
    except psycopg.Error as exc:
        reason = scrub(" ".join(str(exc).split()) or type(exc).__name__, url)[:300]
        raise StateError(f"the state database at {where} cannot be read: {reason}") from None
    return found


def _read(found: StateProbe, fetch: Any, within_s: float) -> None:
    """The jobs waiting and the workers seen lately, where the schema has them."""
    if found.schema >= 1:
        found.waiting = int(fetch(_WAITING)[0][0])
    if found.schema >= 8:
        rows = fetch(_WORKERS, (ago(within_s),))
        found.workers = [WorkerInfo(r[0], r[1], int(r[2]), r[3], r[4], r[5]) for r in rows]
