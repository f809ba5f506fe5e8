"""Jobs in the state database: what a job is, and finding jobs.

A job's state moves only through :mod:`ingestq.state.lifecycle`, and every move
appends to its history (:mod:`ingestq.state.events`), so ``status`` and the
history never disagree. This module writes only the rows of new jobs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingestq.errors import NotFoundError, UsageError
from ingestq.ids import new_id
from ingestq.state.db import Database, Row, fetchval

QUEUED, PROCESSING, RETRYING = "queued", "processing", "retrying"
COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"
STATES = (QUEUED, PROCESSING, RETRYING, COMPLETED, FAILED, CANCELLED)
ACTIVE_STATES = (QUEUED, PROCESSING, RETRYING)
TERMINAL_STATES = (COMPLETED, FAILED, CANCELLED)
#: Adding content that is in one of these states again is a duplicate.
DEDUP_STATES = (QUEUED, PROCESSING, RETRYING, COMPLETED)

#: Counting jobs per state: grouped by an expression so that SQLite, without
#: statistics, does not pick the state index to group by and walk every job
#: instead of using the index on the filter (``updated_at``).
GROUP_BY_STATE = ("state || '' AS state", "GROUP BY 1")

#: Newest first. Jobs queued in the same millisecond (one ``add`` of many files)
#: come in id order, the same on every backend.
NEWEST_FIRST = "ORDER BY queued_at DESC, id DESC"


@dataclass
class Job:
    """One unit of work: a document to bring into a collection."""

    id: str
    kind: str
    source: str
    collection: str
    state: str
    queued_at: str
    stage: str | None = None
    progress: float = 0.0
    attempts: int = 0
    error: str | None = None
    vector_count: int = 0
    topics: list[str] = field(default_factory=list)
    content_hash: str | None = None
    size_bytes: int | None = None
    pages: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    completed_at: str | None = None
    updated_at: str | None = None
    lease_owner: str | None = None
    heartbeat_at: str | None = None
    title: str | None = None
    final_url: str | None = None
    not_before: str | None = None
    unchanged: bool = False
    reused: int = 0  # chunks whose stored vector was reused
    embedded: int = 0  # chunks the model had to embed
    owner: str | None = None  # the API token's owner that submitted it; None: the local CLI

    @classmethod
    def from_row(cls, row: Row) -> Job:
        data = dict(row)
        data["topics"] = json.loads(data.get("topics") or "[]")
        data["options"] = json.loads(data.get("options") or "{}")
        data["progress"] = data.get("progress") or 0.0
        data["unchanged"] = bool(data.get("unchanged"))
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its recursive deep copy made a job's view cost about
        # a millisecond, and the API lists up to 200 jobs a request. The only mutable
        # fields are JSON-decoded, so copying them through json is a deep copy.
        data = dict(self.__dict__)
        data["topics"] = list(self.topics)
        data["options"] = json.loads(json.dumps(self.options)) if self.options else {}
        return data


@dataclass(frozen=True)
class NewJob:
    """What it takes to write one job."""

    kind: str
    source: str
    collection: str
    content_hash: str | None = None
    size_bytes: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    not_before: str | None = None
    #: A source whose content has not changed: the job is recorded as completed at
    #: once, having written nothing (the source keeps its current chunks).
    unchanged: bool = False
    #: Who submitted it through the API (None: the local CLI).
    owner: str | None = None


def new_job(spec: NewJob, now: str) -> Job:
    """The job ``spec`` describes, as it will be written."""
    job = Job(
        id=new_id(),
        kind=spec.kind,
        source=spec.source,
        collection=spec.collection,
        state=QUEUED,
        queued_at=now,
        updated_at=now,
        content_hash=spec.content_hash,
        size_bytes=spec.size_bytes,
        options=dict(spec.options),
        not_before=spec.not_before,
        owner=spec.owner,
    )
    if spec.unchanged:
        job.state, job.unchanged, job.progress = COMPLETED, True, 100.0
        job.completed_at, job.not_before = now, None
    return job


_INSERTED = (
    "id",
    "kind",
    "source",
    "collection",
    "state",
    "queued_at",
    "updated_at",
    "content_hash",
    "size_bytes",
    "options",
    "not_before",
    "unchanged",
    "vector_count",
    "progress",
    "completed_at",
    "owner",
)


def insert_jobs(db: Database, jobs: Sequence[Job]) -> None:
    """Write the rows of new jobs and their ``queued`` events (inside a transaction)."""
    marks = ",".join("?" * len(_INSERTED))
    db.executemany(
        f"INSERT INTO jobs ({', '.join(_INSERTED)}) VALUES ({marks})", [_row(j) for j in jobs]
    )
    db.executemany(
        "INSERT INTO events (job_id, at, event, message) VALUES (?, ?, 'queued', ?)",
        [
            (
                j.id,
                j.queued_at,
                j.source + (f" (not before {j.not_before})" if j.not_before else ""),
            )
            for j in jobs
        ],
    )


def _row(job: Job) -> tuple[Any, ...]:
    # getattr, not asdict: its deep copy of every field was 0.5 ms of an upload's CPU.
    special = {"options": json.dumps(job.options), "unchanged": int(job.unchanged)}
    return tuple(special[n] if n in special else getattr(job, n) for n in _INSERTED)


def find_live(
    db: Database,
    collection: str,
    kind: str,
    column: str,
    values: Iterable[str],
    states: Sequence[str],
) -> dict[str, Job]:
    """Map each value of ``column`` to its newest job of ``kind`` in ``states``."""
    if column not in ("content_hash", "source"):
        raise ValueError(f"cannot look jobs up by {column!r}")
    found: dict[str, Job] = {}
    marks = ",".join("?" * len(states))
    keys = list(dict.fromkeys(values))
    # Many values a query: a sync of 50,000 files asked 50,000 questions.
    for start in range(0, len(keys), _BATCH):
        batch = keys[start : start + _BATCH]
        rows = db.fetchall(
            f"SELECT * FROM jobs WHERE collection = ? AND kind = ?"
            f" AND {column} IN ({','.join('?' * len(batch))})"
            f" AND state IN ({marks}) {NEWEST_FIRST}",
            (collection, kind, *batch, *states),
        )
        for row in rows:  # newest first: the first row of a value is its newest job
            if row[column] not in found:
                found[row[column]] = Job.from_row(row)
    return found


#: Values per ``IN (...)``: well under SQLite's limit of 32,766 parameters.
_BATCH = 500


def with_failures(db: Database, collection: str, sources: Iterable[str]) -> set[str]:
    """Which of ``sources`` (files) have a failed job, the newest or not."""
    keys = list(dict.fromkeys(sources))
    found: set[str] = set()
    for start in range(0, len(keys), _BATCH):
        batch = keys[start : start + _BATCH]
        rows = db.fetchall(
            "SELECT DISTINCT source FROM jobs WHERE collection = ? AND kind = 'pdf'"
            f" AND source IN ({','.join('?' * len(batch))}) AND state = 'failed'",
            (collection, *batch),
        )
        found.update(r["source"] for r in rows)
    return found


def failed_before(db: Database, collection: str, source: str, content_hash: str) -> Job | None:
    """The source's newest job, if it failed on this very content.

    Failing again on the same bytes is all a new attempt could do (an encrypted,
    scanned or broken PDF), so a nightly re-add skips it instead of failing and
    alerting every night. ``retry`` or ``add --force`` tries again.
    """
    row = db.fetchone(
        f"SELECT * FROM jobs WHERE collection = ? AND kind = 'pdf' AND source = ? {NEWEST_FIRST}"
        " LIMIT 1",
        (collection, source),
    )
    if row is None or row["state"] != FAILED or row["content_hash"] != content_hash:
        return None
    return Job.from_row(row)


def get_job(db: Database, id_or_prefix: str, *, owner: str | None = None) -> Job:
    """The job whose id is, or starts with, ``id_or_prefix`` (case-insensitive).

    With ``owner``, only that owner's jobs count: another's is not found.
    """
    key = id_or_prefix.strip().upper()
    if not key:
        raise UsageError("a job id cannot be empty")
    mine = " AND owner = ?" if owner is not None else ""
    rows = db.fetchall(
        f"SELECT * FROM jobs WHERE id >= ? AND id < ?{mine} ORDER BY id LIMIT 2",
        (key, key + "\x7f", *([owner] if owner is not None else [])),
    )
    if not rows:
        raise NotFoundError(f"no job matches {id_or_prefix!r}")
    if len(rows) > 1 and rows[0]["id"] != key:
        raise UsageError(f"{id_or_prefix!r} matches more than one job; give more of the id")
    return Job.from_row(rows[0])


def state_of(db: Database, job_id: str) -> str | None:
    """The job's state, or None if there is no such job."""
    value = fetchval(db, "SELECT state FROM jobs WHERE id = ?", (job_id,))
    return str(value) if value is not None else None


def list_jobs(
    db: Database,
    *,
    states: Sequence[str] = (),
    limit: int | None = 20,
    updated_after: str | None = None,
    collection: str | None = None,
    owner: str | None = None,
    before: tuple[str, str] | None = None,
) -> list[Job]:
    """The newest jobs first, optionally only those in ``states`` or changed since a time.

    ``owner`` keeps only that owner's jobs; ``before`` (a job's ``queued_at`` and
    ``id``) starts after that job, for paging.
    """
    where: list[str] = []
    params: list[object] = []
    if owner is not None:
        where.append("owner = ?")
        params.append(owner)
    if before is not None:
        where.append("(queued_at < ? OR (queued_at = ? AND id < ?))")
        params.extend([before[0], before[0], before[1]])
    if states:
        where.append(f"state IN ({','.join('?' * len(states))})")
        params.extend(states)
    if updated_after:
        where.append("updated_at >= ?")
        params.append(updated_after)
    if collection:
        where.append("collection = ?")
        params.append(collection)
    sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" {NEWEST_FIRST}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [Job.from_row(r) for r in db.fetchall(sql, params)]


def watched(
    db: Database,
    *,
    since: str,
    collection: str | None = None,
    states: Sequence[str] = (),
    job_ids: Sequence[str] = (),
    limit: int = 200,
    owner: str | None = None,
) -> tuple[list[Job], dict[str, int]]:
    """Jobs active or changed since ``since`` (or exactly ``job_ids``), oldest first,
    at most ``limit`` of them, and how many of all those are in each state."""
    marks = ",".join("?" * len(ACTIVE_STATES))
    clauses = [f"(state IN ({marks}) OR updated_at >= ?)"]
    args: list[object] = [*ACTIVE_STATES, since]
    if job_ids:
        # Named jobs are watched whatever their age.
        clauses = [f"id IN ({','.join('?' * len(job_ids))})"]
        args = list(job_ids)
    if collection:
        clauses.append("collection = ?")
        args.append(collection)
    if owner is not None:
        clauses.append("owner = ?")
        args.append(owner)
    if states:
        clauses.append(f"state IN ({','.join('?' * len(states))})")
        args += list(states)
    where = " AND ".join(clauses)
    rows = db.fetchall(
        f"SELECT * FROM jobs WHERE {where} ORDER BY queued_at, id LIMIT ?", (*args, limit)
    )
    counts = dict.fromkeys(STATES, 0)
    for row in db.fetchall(
        f"SELECT {GROUP_BY_STATE[0]}, count(*) AS n FROM jobs WHERE {where} {GROUP_BY_STATE[1]}",
        args,
    ):
        counts[row["state"]] = row["n"]
    return [Job.from_row(r) for r in rows], counts


def ids_in_state(db: Database, state: str) -> list[str]:
    """Every job id in ``state``, newest first."""
    return [
        r["id"]
        for r in db.fetchall(f"SELECT id FROM jobs WHERE state = ? {NEWEST_FIRST}", (state,))
    ]
