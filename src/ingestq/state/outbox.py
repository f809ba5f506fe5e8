"""Callbacks: tell a URL when a job completes or fails for good.

Delivery goes through an outbox. The callback row is written in the same
transaction that ends the job, so a callback is never lost and never sent for
an outcome that was not committed; a worker sends due rows afterwards, retries
failures with backoff, and records every attempt as a job event. A callback
never changes its job's state. Bodies are signed when ``INGESTQ_SIGNING_KEY``
is set (see :mod:`ingestq.webhooks`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ingestq.db import isoformat, transaction, utcnow
from ingestq.errors import JobError
from ingestq.jobs import add_event

if TYPE_CHECKING:
    from ingestq.fetch import Fetcher

log = logging.getLogger(__name__)

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


def queue_for(conn: sqlite3.Connection, job_id: str) -> None:
    """Write the job's callback, if it asked for one (call inside the ending transaction)."""
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    url = json.loads(row["options"] or "{}").get("callback") if row else None
    if not url:
        return
    body = {name: row[name] for name in BODY_FIELDS}
    body["topics"] = json.loads(body["topics"] or "[]")
    conn.execute(
        "INSERT INTO callbacks (job_id, url, body, state, attempts, next_at, created_at)"
        " VALUES (?, ?, ?, ?, 0, ?, ?)",
        (job_id, url, json.dumps(body, separators=(",", ":")), PENDING, utcnow(), utcnow()),
    )


def deliver_due(conn: sqlite3.Connection, fetcher: Fetcher, signing_key: str | None) -> int:
    """Send every callback that is due; return how many were attempted."""
    rows = conn.execute(
        "SELECT * FROM callbacks WHERE state = ? AND next_at <= ? ORDER BY id",
        (PENDING, utcnow()),
    ).fetchall()
    for row in rows:
        error = _send(fetcher, row["url"], row["body"].encode(), signing_key)
        _record(conn, row, error)
    return len(rows)


def pending_count(conn: sqlite3.Connection) -> int:
    return int(
        conn.execute("SELECT count(*) FROM callbacks WHERE state = ?", (PENDING,)).fetchone()[0]
    )


def _send(fetcher: Fetcher, url: str, body: bytes, signing_key: str | None) -> str:
    """POST one callback; "" on a 2xx answer, else why it failed."""
    from ingestq.webhooks import HEADER, sign

    headers = {"Content-Type": "application/json"}
    if signing_key:
        headers[HEADER] = sign(body, signing_key)
    try:
        status, reason = fetcher.post(url, body, headers)
    except JobError as exc:
        return str(exc)
    except Exception as exc:  # a callback must never take the worker down
        log.exception("callback to %s failed unexpectedly", url)
        return f"{type(exc).__name__}: {exc}"
    return "" if 200 <= status < 300 else f"HTTP {status} {reason}".strip()


def _record(conn: sqlite3.Connection, row: Any, error: str) -> None:
    attempts = row["attempts"] + 1
    now = datetime.now(UTC)
    with transaction(conn):
        if not error:
            state, next_at, note = DELIVERED, None, f"delivered to {row['url']}"
        elif attempts > len(BACKOFF_S):
            state, next_at, note = GAVE_UP, None, f"{error}; gave up after {attempts} attempts"
        else:
            wait = BACKOFF_S[attempts - 1]
            state = PENDING
            next_at = isoformat(now + timedelta(seconds=wait))
            note = f"{error}; attempt {attempts}, next in {wait} s"
        conn.execute(
            "UPDATE callbacks SET state = ?, attempts = ?, next_at = coalesce(?, next_at),"
            " last_error = ?, delivered_at = ? WHERE id = ?",
            (
                state,
                attempts,
                next_at,
                error or None,
                isoformat(now) if not error else None,
                row["id"],
            ),
        )
        add_event(conn, row["job_id"], "callback", note)
    (log.info if not error else log.warning)("callback for job %s: %s", row["job_id"], note)
