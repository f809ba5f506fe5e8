"""Live job state for ``watch`` and ``--wait``: snapshots of the state database.

The state database is the source of truth, so watching is polling it: each
snapshot is one short read transaction (WAL readers never block the worker).
The CLI draws snapshots; this module says what they hold and what changed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingestq.db import parse_time
from ingestq.jobs import ACTIVE_STATES, FAILED, STATES, Job

#: Most jobs a snapshot lists: a screen shows no more, and reading stays cheap.
MAX_ROWS = 200


@dataclass(frozen=True)
class Filter:
    """Which jobs to watch: recent or active ones, optionally narrowed."""

    since: str  # ISO time: finished jobs older than this are left out
    collection: str | None = None
    states: Sequence[str] = ()
    job_ids: Sequence[str] = ()


@dataclass
class Snapshot:
    jobs: list[Job]
    counts: dict[str, int]
    taken: float = field(default_factory=time.monotonic)

    def active(self) -> list[Job]:
        return [j for j in self.jobs if j.state in ACTIVE_STATES]

    def vectors(self) -> dict[str, int]:
        return {j.id: j.vector_count for j in self.jobs}


def snapshot(conn: sqlite3.Connection, flt: Filter) -> Snapshot:
    """The watched jobs now, oldest first, and how many are in each state."""
    where, args = _where(flt)
    rows = conn.execute(
        f"SELECT * FROM jobs WHERE {where} ORDER BY queued_at, id LIMIT {MAX_ROWS}", args
    ).fetchall()
    counts = dict.fromkeys(STATES, 0)
    for state, n in conn.execute(
        f"SELECT state, count(*) FROM jobs WHERE {where} GROUP BY state", args
    ):
        counts[state] = n
    return Snapshot([Job.from_row(r) for r in rows], counts)


def _where(flt: Filter) -> tuple[str, list[object]]:
    marks = ",".join("?" * len(ACTIVE_STATES))
    clauses = [f"(state IN ({marks}) OR updated_at >= ?)"]
    args: list[object] = [*ACTIVE_STATES, flt.since]
    if flt.collection:
        clauses.append("collection = ?")
        args.append(flt.collection)
    if flt.states:
        clauses.append(f"state IN ({','.join('?' * len(flt.states))})")
        args += list(flt.states)
    if flt.job_ids:
        # Named jobs are watched whatever their age.
        clauses[0] = f"id IN ({','.join('?' * len(flt.job_ids))})"
        args = list(flt.job_ids) + args[len(ACTIVE_STATES) + 1 :]
    return " AND ".join(clauses), args


def changes(before: Snapshot | None, after: Snapshot) -> list[tuple[Job, str | None]]:
    """Jobs whose state differs between the snapshots, with their previous state."""
    old = {j.id: j.state for j in before.jobs} if before else {}
    return [(j, old.get(j.id)) for j in after.jobs if old.get(j.id) != j.state]


def throughput(before: Snapshot, after: Snapshot) -> float:
    """Chunks indexed per second between the snapshots."""
    seconds = after.taken - before.taken
    if seconds <= 0:
        return 0.0
    old = before.vectors()
    # A job new to the snapshot started at 0; one that finished keeps its count.
    made = sum(max(0, n - old.get(job_id, 0)) for job_id, n in after.vectors().items())
    return made / seconds


def timing(job: Job, now: datetime | None = None) -> tuple[float | None, float | None]:
    """Seconds the job has run, and a naive ETA from its progress so far."""
    if not job.started_at:
        return None, None
    end = parse_time(job.completed_at) if job.completed_at else (now or datetime.now(UTC))
    elapsed = max(0.0, (end - parse_time(job.started_at)).total_seconds())
    if job.state not in ACTIVE_STATES or not 0 < job.progress < 100:
        return elapsed, None
    return elapsed, elapsed * (100 - job.progress) / job.progress


@dataclass
class Tally:
    """What a watch has seen: for its exit code and its summary."""

    failed: dict[str, Job] = field(default_factory=dict)
    seen_active: set[str] = field(default_factory=set)

    def update(self, snap: Snapshot, since: str) -> None:
        for job in snap.jobs:
            if job.state in ACTIVE_STATES:
                self.seen_active.add(job.id)
            elif job.state == FAILED and (
                job.id in self.seen_active or (job.updated_at or "") >= since
            ):
                self.failed[job.id] = job
