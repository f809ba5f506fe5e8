"""Rate-limit buckets in the state database, so every ``serve`` process shares them.

One row per (scope, subject): a token bucket's level and when it was last
refilled, in seconds since the epoch. :func:`take` refills and spends in one
atomic upsert, so two processes (or two hosts on PostgreSQL) that take from the
same bucket at once never both get its last request, and a restart forgets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingestq.state.db import Database


@dataclass(frozen=True)
class Taken:
    """What one :func:`take` found."""

    granted: bool
    #: The bucket's level after it: what is left, or (refused) the fraction refilled.
    tokens: float


def _sql(db: Database) -> str:
    least, greatest = ("MIN", "MAX") if db.dialect == "sqlite" else ("LEAST", "GREATEST")
    # The level now: the stored one, refilled for the time since, capped. Every SET
    # expression reads the row as it was, on SQLite as on PostgreSQL.
    level = (
        f"{least}(?, rate_limits.tokens"
        f" + {greatest}(0.0, excluded.refilled_at - rate_limits.refilled_at) * ?)"
    )
    return (
        "INSERT INTO rate_limits (scope, subject, tokens, refilled_at, granted)"
        " VALUES (?, ?, ?, ?, 1)"
        " ON CONFLICT (scope, subject) DO UPDATE SET"
        f" tokens = CASE WHEN {level} >= 1 THEN {level} - 1 ELSE {level} END,"
        f" granted = CASE WHEN {level} >= 1 THEN 1 ELSE 0 END,"
        " refilled_at = excluded.refilled_at"
        " RETURNING tokens, granted"
    )


def take(
    db: Database, scope: str, subject: str, capacity: float, per_second: float, at: float
) -> Taken:
    """Spend one request from ``subject``'s ``scope`` bucket (``capacity`` at most,
    refilled at ``per_second``) at time ``at`` (epoch seconds), if one is there."""
    sql = _sql(db)
    # The refilled level appears four times, each with its two parameters.
    params = (scope, subject, capacity - 1, at, *(capacity, per_second) * 4)
    assert sql.count("?") == len(params)
    # A transaction of its own: on SQLite the process's writers then take turns
    # (see db._writing) instead of sleeping in SQLite's busy handler. fetchall, not
    # fetchone: the statement must run to its end.
    with db.transaction():
        [row] = db.fetchall(sql, params)
    return Taken(granted=bool(row["granted"]), tokens=float(row["tokens"]))
