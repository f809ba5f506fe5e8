"""``prune``: reclaim the blobs and history of old finished jobs.

A nightly run piles up one job per source per night. Their rows stay (they
are small, and ``status`` may still be asked about them), but their events and
their stored copies go once they are older than the asked age. Two things are
never deleted: a blob a live job still needs (queued, processing, retrying, or
a younger finished job with the same content), and the blob behind a source's
current chunks, which a re-ingest, a ``retry`` or an audit may need.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingestq.blobs import blob_path
from ingestq.config import Settings
from ingestq.db import connect, isoformat, transaction
from ingestq.jobs import CANCELLED, COMPLETED, FAILED

TERMINAL = (COMPLETED, FAILED, CANCELLED)

#: An unnamed blob younger than this may belong to an ``add`` still committing.
ORPHAN_GRACE_S = 3600.0


@dataclass
class PruneResult:
    """What a prune removed (or, in a dry run, would remove)."""

    jobs: int = 0  # old finished jobs that had history to prune
    events: int = 0
    blobs: int = 0
    bytes: int = 0
    kept_blobs: int = 0  # old jobs' blobs kept for a current source or a live job
    dry_run: bool = False
    removed: list[str] = field(default_factory=list)  # blob digests


def prune(settings: Settings, older_than_s: float, *, dry_run: bool = False) -> PruneResult:
    """Delete events and blobs of finished jobs older than ``older_than_s`` seconds."""
    cutoff = isoformat(datetime.now(UTC) - timedelta(seconds=older_than_s))
    conn = connect(settings.state_db)
    result = PruneResult(dry_run=dry_run)
    with transaction(conn):
        old = _old_jobs(conn, cutoff)
        needed = _needed_digests(conn, cutoff)
        result.jobs, result.events = _count_events(conn, list(old))
        if not dry_run:
            conn.executemany("DELETE FROM events WHERE job_id = ?", [(j,) for j in old])
    digests = {d for d in old.values() if d}
    result.kept_blobs = len(digests & needed)
    doomed = sorted(digests - needed) + sorted(_orphans(settings, conn, older_than_s))
    for digest in doomed:
        path = blob_path(settings.blobs_dir, digest)
        try:
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
        except FileNotFoundError:
            continue  # pruned before, or never stored (a job refused at add)
        result.blobs += 1
        result.bytes += size
        result.removed.append(digest)
    return result


def _old_jobs(conn: sqlite3.Connection, cutoff: str) -> dict[str, str | None]:
    marks = ",".join("?" * len(TERMINAL))
    rows = conn.execute(
        f"SELECT id, content_hash FROM jobs WHERE state IN ({marks})"
        " AND coalesce(completed_at, updated_at, queued_at) < ?",
        (*TERMINAL, cutoff),
    )
    return {job_id: digest for job_id, digest in rows}


def _needed_digests(conn: sqlite3.Connection, cutoff: str) -> set[str]:
    """Blobs that must stay: live or recent jobs' content, and every current source's."""
    marks = ",".join("?" * len(TERMINAL))
    rows = conn.execute(
        f"SELECT content_hash FROM jobs WHERE content_hash IS NOT NULL AND (state NOT IN ({marks})"
        " OR coalesce(completed_at, updated_at, queued_at) >= ?)"
        " UNION SELECT content_hash FROM sources WHERE content_hash IS NOT NULL"
        " UNION SELECT j.content_hash FROM sources s JOIN jobs j ON j.id = s.job_id"
        " WHERE j.content_hash IS NOT NULL",
        (*TERMINAL, cutoff),
    )
    return {digest for (digest,) in rows}


def _count_events(conn: sqlite3.Connection, job_ids: list[str]) -> tuple[int, int]:
    """How many of ``job_ids`` have events, and how many events they have."""
    jobs = events = 0
    for start in range(0, len(job_ids), 500):  # stay under SQLite's variable limit
        part = job_ids[start : start + 500]
        marks = ",".join("?" * len(part))
        with_events, count = conn.execute(
            f"SELECT count(DISTINCT job_id), count(*) FROM events WHERE job_id IN ({marks})", part
        ).fetchone()
        jobs, events = jobs + with_events, events + count
    return jobs, events


def _orphans(settings: Settings, conn: sqlite3.Connection, older_than_s: float) -> Iterator[str]:
    """Old blobs no job names at all: left by an ``add`` that died before its commit."""
    known = {d for (d,) in conn.execute("SELECT DISTINCT content_hash FROM jobs")}
    horizon = time.time() - max(older_than_s, ORPHAN_GRACE_S)
    root = settings.blobs_dir
    if not root.is_dir():
        return
    for fan in root.iterdir():
        if not fan.is_dir():
            continue
        for path in fan.iterdir():
            if path.name not in known and _mtime(path) < horizon:
                yield path.name


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return float("inf")
