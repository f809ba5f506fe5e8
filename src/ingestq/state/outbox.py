"""The callback outbox: what to tell whom about a job's end, and how that went.

A callback row is written in the same transaction that ends its job, so a
callback is never lost and never sent for an outcome that was not committed.
A worker sends due rows afterwards (:mod:`ingestq.worker.callbacks`), and each
attempt lands here and in the job's history. A callback never changes its
job's state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingestq.state.db import Database, fetchval
from ingestq.state.events import add_event
from ingestq.times import format_time, now

#: Seconds to wait before each retry of a failed delivery; then it is given up.
BACKOFF_S = (5, 30, 120, 600, 3600)
BODY_FIELDS = (
    "id",
    "state",
    "kind",
    "source",
    "collection",
    "error",
    "attempts",
    "vector_count",
    "topics",
    "queued_at",
    "started_at",
    "completed_at",
)
PENDING, DELIVERED, GAVE_UP = "pending", "delivered", "gave_up"


@dataclass(frozen=True)
class Callback:
    """One due delivery: the exact body to send, so a retry signs the same bytes."""

    id: int
    job_id: str
    url: str
    body: bytes
    attempts: int


def queue_for(db: Database, job_id: str) -> None:
    """Write the job's callback, if it asked for one (call inside the ending transaction)."""
    row = db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    url = json.loads(row["options"] or "{}").get("callback") if row else None
    if not row or not url:
        return
    body = {name: row[name] for name in BODY_FIELDS}
    body["topics"] = json.loads(body["topics"] or "[]")
    db.execute(
        "INSERT INTO callbacks (job_id, url, body, state, attempts, next_at, created_at)"
        " VALUES (?, ?, ?, ?, 0, ?, ?)",
        (job_id, url, json.dumps(body, separators=(",", ":")), PENDING, now(), now()),
    )


def due(db: Database) -> list[Callback]:
    """Callbacks whose time to be sent has come, oldest first."""
    rows = db.fetchall(
        "SELECT id, job_id, url, body, attempts FROM callbacks WHERE state = ? AND next_at <= ?"
        " ORDER BY id",
        (PENDING, now()),
    )
    return [Callback(**(r | {"body": r["body"].encode()})) for r in rows]


def claim(db: Database, callback: Callback, hold_s: float) -> bool:
    """Take a due callback for sending: push its time ``hold_s`` ahead so no other
    worker takes it meanwhile. False if another worker took it first.

    Workers sharing the state all look at the outbox; this conditional write is
    what keeps two of them from sending one callback twice. A worker that dies
    holding one lets it become due again after ``hold_s``.
    """
    stamp = now()
    taken = db.execute(
        "UPDATE callbacks SET next_at = ? WHERE id = ? AND state = ? AND next_at <= ?",
        (format_time(datetime.now(UTC) + timedelta(seconds=hold_s)), callback.id, PENDING, stamp),
    )
    return taken > 0


def pending_count(db: Database) -> int:
    """How many callbacks are still to be delivered, due or not."""
    return int(fetchval(db, "SELECT count(*) FROM callbacks WHERE state = ?", (PENDING,)) or 0)


def record_attempt(db: Database, callback: Callback, error: str) -> str:
    """Record one delivery attempt ("" for success); schedule the next or give up.

    Returns the note written to the job's history.
    """
    attempts = callback.attempts + 1
    when = datetime.now(UTC)
    if not error:
        state, next_at, note = DELIVERED, None, f"delivered to {callback.url}"
    elif attempts > len(BACKOFF_S):
        state, next_at, note = GAVE_UP, None, f"{error}; gave up after {attempts} attempts"
    else:
        wait = BACKOFF_S[attempts - 1]
        state = PENDING
        next_at = format_time(when + timedelta(seconds=wait))
        note = f"{error}; attempt {attempts}, next in {wait} s"
    with db.transaction():
        db.execute(
            "UPDATE callbacks SET state = ?, attempts = ?, next_at = coalesce(?, next_at),"
            " last_error = ?, delivered_at = ? WHERE id = ?",
            (
                state,
                attempts,
                next_at,
                error or None,
                format_time(when) if not error else None,
                callback.id,
            ),
        )
        add_event(db, callback.job_id, "callback", note)
    return note
