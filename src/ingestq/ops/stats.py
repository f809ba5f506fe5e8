"""``stats``: the monitoring a dashboard would give, from the state database alone."""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingestq.config import Settings
from ingestq.db import connect, isoformat, parse_time
from ingestq.jobs import COMPLETED, FAILED, STATES
from ingestq.times import parse_duration

STAGES = ("fetching", "parsing", "embedding", "indexing")


@dataclass
class Stats:
    since: str | None
    states: dict[str, int] = field(default_factory=dict)
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> median, p95, n
    chunks_per_s: float | None = None
    pages_per_s: float | None = None
    retries: int = 0
    failures: list[tuple[str, int]] = field(default_factory=list)  # reason, count


def compute(settings: Settings, since: str | None = None) -> Stats:
    """Stats over the jobs that changed in the last ``since`` ("24h"), or over all jobs."""
    after = ""
    if since:
        after = isoformat(datetime.now(UTC) - timedelta(seconds=parse_duration(since, "--since")))
    conn = connect(settings.state_db)
    try:
        out = Stats(since=after or None)
        out.states = dict.fromkeys(STATES, 0) | dict(
            conn.execute(
                "SELECT state, count(*) FROM jobs WHERE updated_at >= ? GROUP BY state", (after,)
            )
        )
        out.stages = _stage_times(conn, after)
        out.chunks_per_s, out.pages_per_s = _rates(conn, after)
        out.retries = conn.execute(
            "SELECT count(*) FROM events WHERE event = 'retry_scheduled' AND at >= ?", (after,)
        ).fetchone()[0]
        out.failures = [
            (str(reason), int(n))
            for reason, n in conn.execute(
                "SELECT error, count(*) AS n FROM jobs WHERE state = ? AND updated_at >= ?"
                " GROUP BY error ORDER BY n DESC, error LIMIT 10",
                (FAILED, after),
            )
        ]
    finally:
        conn.close()
    return out


def _stage_times(conn: sqlite3.Connection, after: str) -> dict[str, dict[str, float]]:
    # Each completed attempt records the seconds it spent per stage, over all its
    # batches (a job alternates embedding and indexing batch by batch).
    spans: dict[str, list[float]] = defaultdict(list)
    for (data,) in conn.execute(
        "SELECT data FROM events WHERE event = 'completed' AND at >= ? AND data IS NOT NULL",
        (after,),
    ):
        for stage, seconds in (json.loads(data).get("timings") or {}).items():
            spans[stage].append(float(seconds))
    order = {name: i for i, name in enumerate(STAGES)}
    return {
        stage: {"median_s": statistics.median(v), "p95_s": _p95(v), "count": len(v)}
        for stage, v in sorted(spans.items(), key=lambda kv: order.get(kv[0], 99))
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _rates(conn: sqlite3.Connection, after: str) -> tuple[float | None, float | None]:
    rows = conn.execute(
        "SELECT vector_count, pages, started_at, completed_at FROM jobs WHERE state = ?"
        " AND completed_at >= ? AND started_at IS NOT NULL AND unchanged = 0",
        (COMPLETED, after),
    ).fetchall()
    seconds = sum(
        (parse_time(done) - parse_time(start)).total_seconds() for _, _, start, done in rows
    )
    if seconds <= 0:
        return None, None
    return sum(r[0] for r in rows) / seconds, sum(r[1] or 0 for r in rows) / seconds
