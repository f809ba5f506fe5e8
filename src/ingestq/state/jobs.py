"""Jobs in the state database: create, find, claim, progress and finish.

All writes are short transactions. A job's state moves only through the
functions here, and every move appends to ``events``, so ``status`` and the
history never disagree.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ingestq.db import transaction, utcnow
from ingestq.errors import NotFoundError, UsageError
from ingestq.ids import new_id

QUEUED, PROCESSING, RETRYING = "queued", "processing", "retrying"
COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"
STATES = (QUEUED, PROCESSING, RETRYING, COMPLETED, FAILED, CANCELLED)
ACTIVE_STATES = (QUEUED, PROCESSING, RETRYING)
#: Adding content that is in one of these states again is a duplicate.
DEDUP_STATES = (QUEUED, PROCESSING, RETRYING, COMPLETED)


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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["topics"] = json.loads(data.get("topics") or "[]")
        data["options"] = json.loads(data.get("options") or "{}")
        data["progress"] = data.get("progress") or 0.0
        data["unchanged"] = bool(data.get("unchanged"))
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewJob:
    """What :func:`create_jobs` needs to write one job."""

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


def _new_job(spec: NewJob, now: str) -> Job:
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
)


def _row(job: Job) -> tuple[Any, ...]:
    values = {**asdict(job), "options": json.dumps(job.options), "unchanged": int(job.unchanged)}
    return tuple(values[name] for name in _INSERTED)


def create_jobs(conn: sqlite3.Connection, specs: Sequence[NewJob]) -> list[Job]:
    """Insert ``specs`` as jobs, all in one transaction.

    Most start ``queued``; one for an unchanged source is ``completed`` at once.
    """
    now = utcnow()
    jobs = [_new_job(spec, now) for spec in specs]
    marks = ",".join("?" * len(_INSERTED))
    with transaction(conn):
        conn.executemany(
            f"INSERT INTO jobs ({', '.join(_INSERTED)}) VALUES ({marks})",
            [_row(j) for j in jobs],
        )
        conn.executemany(
            "INSERT INTO events (job_id, at, event, message) VALUES (?, ?, 'queued', ?)",
            [
                (j.id, now, j.source + (f" (not before {j.not_before})" if j.not_before else ""))
                for j in jobs
            ],
        )
        conn.executemany(
            "INSERT INTO events (job_id, at, event, message) VALUES (?, ?, 'completed', ?)",
            [(j.id, now, "unchanged: nothing to embed") for j in jobs if j.unchanged],
        )
        from ingestq import callbacks  # it builds on this module

        for j in jobs:
            if j.unchanged and j.options.get("callback"):
                callbacks.queue_for(conn, j.id)
    return jobs


def find_live(
    conn: sqlite3.Connection,
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
    for value in dict.fromkeys(values):
        row = conn.execute(
            f"SELECT * FROM jobs WHERE collection = ? AND kind = ? AND {column} = ?"
            f" AND state IN ({marks}) ORDER BY queued_at DESC, rowid DESC LIMIT 1",
            (collection, kind, value, *states),
        ).fetchone()
        if row is not None:
            found[value] = Job.from_row(row)
    return found


def failed_before(
    conn: sqlite3.Connection, collection: str, source: str, content_hash: str
) -> Job | None:
    """The source's newest job, if it failed on this very content.

    Failing again on the same bytes is all a new attempt could do (an encrypted,
    scanned or broken PDF), so a nightly re-add skips it instead of failing and
    alerting every night. ``retry`` or ``add --force`` tries again.
    """
    row = conn.execute(
        "SELECT * FROM jobs WHERE collection = ? AND kind = 'pdf' AND source = ?"
        " ORDER BY queued_at DESC, rowid DESC LIMIT 1",
        (collection, source),
    ).fetchone()
    if row is None or row["state"] != FAILED or row["content_hash"] != content_hash:
        return None
    return Job.from_row(row)


def get_job(conn: sqlite3.Connection, id_or_prefix: str) -> Job:
    """The job whose id is, or starts with, ``id_or_prefix`` (case-insensitive)."""
    key = id_or_prefix.strip().upper()
    if not key:
        raise UsageError("a job id cannot be empty")
    rows = conn.execute(
        "SELECT * FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT 2", (key, key + "\x7f")
    ).fetchall()
    if not rows:
        raise NotFoundError(f"no job matches {id_or_prefix!r}")
    if len(rows) > 1 and rows[0]["id"] != key:
        raise UsageError(f"{id_or_prefix!r} matches more than one job; give more of the id")
    return Job.from_row(rows[0])


def list_jobs(
    conn: sqlite3.Connection,
    *,
    states: Sequence[str] = (),
    limit: int | None = 20,
    updated_after: str | None = None,
    collection: str | None = None,
) -> list[Job]:
    """The newest jobs first, optionally only those in ``states`` or changed since a time."""
    where: list[str] = []
    params: list[object] = []
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
    sql += " ORDER BY queued_at DESC, rowid DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [Job.from_row(r) for r in conn.execute(sql, params)]


def count_by_state(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
    return {state: n for state, n in rows}


def add_event(
    conn: sqlite3.Connection,
    job_id: str,
    event: str,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Append to a job's history (call inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO events (job_id, at, event, message, data) VALUES (?,?,?,?,?)",
        (job_id, utcnow(), event, message, json.dumps(data) if data else None),
    )


def events_for(conn: sqlite3.Connection, job_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT at, event, message, data FROM events WHERE job_id = ? ORDER BY id", (job_id,)
    ).fetchall()
    return [dict(r) | {"data": json.loads(r["data"]) if r["data"] else None} for r in rows]
