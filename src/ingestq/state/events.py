"""A job's history: one row per thing that happened to it, in order."""

from __future__ import annotations

import json
from typing import Any

from ingestq.state.db import Database
from ingestq.times import now


def add_event(
    db: Database, job_id: str, event: str, message: str = "", data: dict[str, Any] | None = None
) -> None:
    """Append to a job's history (call inside the caller's transaction)."""
    db.execute(
        "INSERT INTO events (job_id, at, event, message, data) VALUES (?,?,?,?,?)",
        (job_id, now(), event, message, json.dumps(data) if data else None),
    )


def events_for(db: Database, job_id: str) -> list[dict[str, Any]]:
    """The job's history, oldest first: ``at``, ``event``, ``message``, ``data``."""
    rows = db.fetchall(
        "SELECT at, event, message, data FROM events WHERE job_id = ? ORDER BY id", (job_id,)
    )
    return [r | {"data": json.loads(r["data"]) if r["data"] else None} for r in rows]
