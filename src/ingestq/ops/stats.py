"""``stats``: the monitoring a dashboard would give, from the state database alone."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ingestq.config import Settings
from ingestq.state import metrics, open_state
from ingestq.times import ago, parse_duration

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


def stats(settings: Settings, since: str | None = None) -> Stats:
    """Stats over the jobs that changed in the last ``since`` ("24h"), or over all jobs."""
    after = ago(parse_duration(since, "since")) if since else ""
    db = open_state(settings)
    try:
        out = Stats(since=after or None)
        out.states = metrics.states_since(db, after)
        out.stages = _summarise(metrics.stage_seconds(db, after))
        chunks, pages, seconds = metrics.work_done(db, after)
        if seconds > 0:
            out.chunks_per_s, out.pages_per_s = chunks / seconds, pages / seconds
        out.retries = metrics.retries_since(db, after)
        out.failures = metrics.top_failures(db, after)
    finally:
        db.close()
    return out


def _summarise(spans: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    order = {name: i for i, name in enumerate(STAGES)}
    return {
        stage: {"median_s": statistics.median(v), "p95_s": _p95(v), "count": len(v)}
        for stage, v in sorted(spans.items(), key=lambda kv: order.get(kv[0], 99))
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class Counters:
    """Everything on record, for a monitoring scrape (``GET /metrics``)."""

    states: dict[str, int]
    stage_seconds: dict[str, list[float]]
    chunks_embedded: int
    retries: int
    failures: list[tuple[str, int]]

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for a worker: queued, or retrying after a backoff."""
        return self.states.get("queued", 0) + self.states.get("retrying", 0)


def counters(settings: Settings) -> Counters:
    """The monitoring counters, over every job on record."""
    db = open_state(settings)
    try:
        return Counters(
            states=metrics.states_since(db, ""),
            stage_seconds=metrics.stage_seconds(db, ""),
            chunks_embedded=metrics.chunks_embedded(db),
            retries=metrics.retries_since(db, ""),
            failures=metrics.top_failures(db, "", limit=20),
        )
    finally:
        db.close()
