"""Live job state for ``watch`` and ``--wait``: snapshots of the state database.

The state database is the source of truth, so watching is polling it: each
snapshot is one short read (WAL readers never block the worker). The CLI draws
snapshots; this module takes them and says what they hold and what changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingestq.config import Settings
from ingestq.errors import UsageError
from ingestq.state import jobs, open_state
from ingestq.state.db import Database
from ingestq.state.jobs import ACTIVE_STATES, FAILED, STATES, Job
from ingestq.times import ago, parse_time

#: Most jobs a snapshot lists: a screen shows no more, and reading stays cheap.
MAX_ROWS = 200

#: Finished jobs stay in view this long after they end.
RECENT_S = 600.0


@dataclass(frozen=True)
class Filter:
    """Which jobs to watch: recent or active ones, optionally narrowed."""

    since: str  # stored-format time: finished jobs older than this are left out
    collection: str | None = None
    states: Sequence[str] = ()
    job_ids: Sequence[str] = ()

    @classmethod
    def recent(cls, collection: str | None = None, states: Sequence[str] = ()) -> Filter:
        """Active jobs and those that ended in the last ten minutes."""
        for state in states:
            if state not in STATES:
                raise UsageError(
                    f"{{states}} {state!r}: use one of {', '.join(STATES)}", params=("states",)
                )
        return cls(since=ago(RECENT_S), collection=collection, states=tuple(states))


@dataclass
class Snapshot:
    jobs: list[Job]
    counts: dict[str, int]
    taken: float = field(default_factory=time.monotonic)

    def active(self) -> list[Job]:
        return [j for j in self.jobs if j.state in ACTIVE_STATES]

    def vectors(self) -> dict[str, int]:
        return {j.id: j.vector_count for j in self.jobs}


def snapshot(db: Database, flt: Filter) -> Snapshot:
    """The watched jobs now, oldest first, and how many are in each state."""
    found, counts = jobs.watched(
        db,
        since=flt.since,
        collection=flt.collection,
        states=flt.states,
        job_ids=flt.job_ids,
        limit=MAX_ROWS,
    )
    return Snapshot(found, counts)


def snapshots(
    settings: Settings,
    flt: Filter,
    *,
    interval: float,
    until_done: bool,
    stop: threading.Event | None = None,
) -> Iterator[Snapshot]:
    """Snapshots every ``interval`` seconds until ``stop`` is set or, with
    ``until_done``, until no watched job is active."""
    db = open_state(settings)
    try:
        while True:
            snap = snapshot(db, flt)
            yield snap
            if (stop is not None and stop.is_set()) or (until_done and not snap.active()):
                return
            time.sleep(interval)
    finally:
        db.close()


def active_count(settings: Settings, flt: Filter) -> int:
    """How many of the watched jobs are still active."""
    db = open_state(settings)
    try:
        return len(snapshot(db, flt).active())
    finally:
        db.close()


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
