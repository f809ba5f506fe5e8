"""Read-only aggregates over jobs and events, for ``stats`` and monitoring."""

from __future__ import annotations

import json
from collections import defaultdict

from ingestq.state.db import Database, fetchval
from ingestq.state.jobs import COMPLETED, FAILED, GROUP_BY_STATE, STATES


def states_since(db: Database, after: str) -> dict[str, int]:
    """Jobs per state among those changed since ``after`` ("" for all), every state listed."""
    # Grouped by an expression, not the column: grouping by ``state`` made SQLite
    # walk the whole state index rather than the recent jobs (see GROUP_BY_STATE).
    rows = db.fetchall(
        f"SELECT {GROUP_BY_STATE[0]}, count(*) AS n FROM jobs WHERE updated_at >= ?"
        f" {GROUP_BY_STATE[1]}",
        (after,),
    )
    return dict.fromkeys(STATES, 0) | {r["state"]: int(r["n"]) for r in rows}


def stage_seconds(db: Database, after: str) -> dict[str, list[float]]:
    """Seconds each completed attempt since ``after`` spent per stage.

    Each completed attempt records them, over all its batches (a job alternates
    embedding and indexing batch by batch).
    """
    spans: dict[str, list[float]] = defaultdict(list)
    for row in db.fetchall(
        "SELECT data FROM events WHERE event = 'completed' AND at >= ? AND data IS NOT NULL",
        (after,),
    ):
        for stage, seconds in (json.loads(row["data"]).get("timings") or {}).items():
            spans[stage].append(float(seconds))
    return dict(spans)


def work_done(db: Database, after: str) -> tuple[int, int, float]:
    """Chunks, pages and running seconds of the jobs completed since ``after``."""
    # Summed by the database: parsing two times a job in Python took most of a
    # second on 100,000 jobs.
    if db.dialect == "postgresql":
        seconds = "extract(epoch from (completed_at::timestamptz - started_at::timestamptz))"
    else:
        seconds = "(julianday(completed_at) - julianday(started_at)) * 86400.0"
    row = db.fetchone(
        "SELECT coalesce(sum(vector_count), 0) AS chunks, coalesce(sum(pages), 0) AS pages,"
        f" coalesce(sum({seconds}), 0) AS seconds FROM jobs WHERE state = ?"
        " AND completed_at >= ? AND started_at IS NOT NULL AND unchanged = 0",
        (COMPLETED, after),
    )
    assert row is not None  # an aggregate always has its row
    return int(row["chunks"]), int(row["pages"]), float(row["seconds"])


def retries_since(db: Database, after: str) -> int:
    """How many retries were scheduled since ``after``."""
    sql = "SELECT count(*) FROM events WHERE event = 'retry_scheduled' AND at >= ?"
    return int(fetchval(db, sql, (after,)) or 0)


def top_failures(db: Database, after: str, limit: int = 10) -> list[tuple[str, int]]:
    """The most frequent errors of jobs that failed since ``after``, with their counts."""
    rows = db.fetchall(
        "SELECT error, count(*) AS n FROM jobs WHERE state = ? AND updated_at >= ?"
        " GROUP BY error ORDER BY n DESC, error LIMIT ?",
        (FAILED, after, limit),
    )
    return [(str(r["error"]), int(r["n"])) for r in rows]


def chunks_embedded(db: Database) -> int:
    """Chunks the model embedded, over every job on record (reused vectors not counted)."""
    return int(fetchval(db, "SELECT coalesce(sum(embedded), 0) FROM jobs") or 0)


def ping(db: Database) -> None:
    """One round trip to the database: raises if it cannot answer."""
    fetchval(db, "SELECT 1")
