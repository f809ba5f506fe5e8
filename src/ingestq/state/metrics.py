"""Read-only aggregates over jobs and events, for ``stats`` and monitoring."""

from __future__ import annotations

import json
from collections import defaultdict

from ingestq.state.db import Database, fetchval
from ingestq.state.jobs import COMPLETED, FAILED, STATES
from ingestq.times import parse_time


def states_since(db: Database, after: str) -> dict[str, int]:
    """Jobs per state among those changed since ``after`` ("" for all), every state listed."""
    rows = db.fetchall(
        "SELECT state, count(*) AS n FROM jobs WHERE updated_at >= ? GROUP BY state", (after,)
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
    rows = db.fetchall(
        "SELECT vector_count, pages, started_at, completed_at FROM jobs WHERE state = ?"
        " AND completed_at >= ? AND started_at IS NOT NULL AND unchanged = 0",
        (COMPLETED, after),
    )
    seconds = sum(
        (parse_time(r["completed_at"]) - parse_time(r["started_at"])).total_seconds() for r in rows
    )
    return sum(r["vector_count"] for r in rows), sum(r["pages"] or 0 for r in rows), seconds


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
