"""State moves of a job: create, claim, progress, finish, retry, hand back, cancel.

A worker owns a job through its lease: ``lease_owner`` names the worker and
``heartbeat_at`` says it is alive. Every write after the claim is conditional on
the lease, so a worker that lost its job (cancelled, or recovered after its
lease expired) can never overwrite the job's newer state.

Every move that ends a job for good also writes its callback to the outbox, in
the same transaction (see :mod:`ingestq.state.outbox`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from ingestq.state import outbox, versions
from ingestq.state.db import Database
from ingestq.state.events import add_event
from ingestq.state.jobs import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PROCESSING,
    QUEUED,
    RETRYING,
    Job,
    NewJob,
    insert_jobs,
    new_job,
)
from ingestq.times import from_now, now


@dataclass
class Outcome:
    """What an attempt produced, for the job's record."""

    vectors: int
    pages: int | None = None
    content_hash: str | None = None
    size_bytes: int | None = None
    title: str | None = None
    final_url: str | None = None
    reused: int = 0  # chunks whose stored vector was reused, not embedded again
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    topics: list[str] | None = None  # None: keep what the job has
    notes: list[tuple[str, str]] = field(default_factory=list)  # (event, message) to record
    unchanged: bool = False  # the source already holds this content: nothing was written
    removed: bool = False  # the source's chunks were deleted (a file gone from a sync)
    etag: str | None = None
    last_modified: str | None = None


def create_jobs(db: Database, specs: Sequence[NewJob]) -> list[Job]:
    """Write ``specs`` as jobs, all in one transaction.

    Most start ``queued``. One for an unchanged source is ``completed`` at once,
    and its callback, if it asked for one, is queued like any other job's end.
    """
    stamp = now()
    jobs = [new_job(spec, stamp) for spec in specs]
    with db.transaction():
        insert_jobs(db, jobs)
        for job in jobs:
            if job.unchanged:
                add_event(db, job.id, "completed", "unchanged: nothing to embed")
                outbox.queue_for(db, job.id)
    return jobs


_OWNED = "id = ? AND lease_owner = ? AND state = 'processing'"


def claim(db: Database, job_id: str, owner: str) -> Job | None:
    """Take ``job_id`` for ``owner`` if it is waiting and due; None if it is not ours to run.

    A delivery of a job that is completed, cancelled, already processing or not
    yet due is a stale or duplicate delivery, and is skipped by returning None.
    """
    stamp = now()
    with db.transaction():
        changed = db.execute(
            "UPDATE jobs SET state = ?, stage = 'parsing', progress = 0, error = NULL,"
            " attempts = attempts + 1, lease_owner = ?, heartbeat_at = ?, started_at = ?,"
            " completed_at = NULL, not_before = NULL, updated_at = ?"
            " WHERE id = ? AND state IN (?, ?) AND coalesce(not_before, '') <= ?",
            (PROCESSING, owner, stamp, stamp, stamp, job_id, QUEUED, RETRYING, stamp),
        )
        if changed == 0:
            return None
        add_event(db, job_id, "claimed", f"by {owner}")
        row = db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return Job.from_row(row) if row else None


def report(
    db: Database,
    job: Job,
    owner: str,
    *,
    stage: str,
    progress: float,
    vector_count: int,
    pages: int | None = None,
    note_stage: bool = False,
) -> bool:
    """Record progress and renew the lease. False if the job is no longer ours.

    ``note_stage`` also records the stage in the job's history; callers set it
    the first time an attempt enters a stage, so stages that alternate per
    batch do not flood the history.
    """
    stamp = now()
    with db.transaction():
        owned = (
            db.execute(
                "UPDATE jobs SET stage = ?, progress = ?, vector_count = ?,"
                f" pages = coalesce(?, pages), heartbeat_at = ?, updated_at = ? WHERE {_OWNED}",
                (stage, round(progress, 1), vector_count, pages, stamp, stamp, job.id, owner),
            )
            > 0
        )
        if owned and note_stage:
            add_event(db, job.id, "stage", stage)
    return owned


def heartbeat(db: Database, job_id: str, owner: str) -> bool:
    """Renew the lease only. False if the job is no longer ours."""
    return (
        db.execute(f"UPDATE jobs SET heartbeat_at = ? WHERE {_OWNED}", (now(), job_id, owner)) > 0
    )


def complete(db: Database, job: Job, owner: str, outcome: Outcome) -> bool:
    """Mark the attempt done and its version current; False if the job stopped being ours.

    An unchanged outcome leaves the document's version pointing at the job whose
    chunks it keeps.
    """
    stamp = now()
    with db.transaction():
        changed = db.execute(
            "UPDATE jobs SET state = ?, stage = NULL, progress = 100, vector_count = ?,"
            " pages = coalesce(?, pages), content_hash = coalesce(?, content_hash),"
            " size_bytes = coalesce(?, size_bytes), title = ?, final_url = ?, unchanged = ?,"
            " reused = ?, embedded = ?, topics = coalesce(?, topics),"
            f" completed_at = ?, updated_at = ?, lease_owner = NULL WHERE {_OWNED}",
            (
                COMPLETED,
                outcome.vectors,
                outcome.pages,
                outcome.content_hash,
                outcome.size_bytes,
                outcome.title,
                outcome.final_url,
                int(outcome.unchanged),
                outcome.reused,
                outcome.vectors - outcome.reused,
                json.dumps(outcome.topics) if outcome.topics is not None else None,
                stamp,
                stamp,
                job.id,
                owner,
            ),
        )
        if not changed:
            return False
        for event, message in outcome.notes:
            add_event(db, job.id, event, message)
        add_event(db, job.id, "completed", _summary(outcome), {"timings": outcome.timings})
        outbox.queue_for(db, job.id)
        _update_version(db, job, outcome)
    return True


def _update_version(db: Database, job: Job, outcome: Outcome) -> None:
    """Point the document at what it now holds (call inside the completing transaction)."""
    if outcome.removed:
        versions.forget(db, job.collection, "pdf", job.source)
        db.execute(
            "UPDATE jobs SET vector_count = 0 WHERE collection = ? AND source = ? AND state = ?",
            (job.collection, job.source, COMPLETED),
        )
    elif not outcome.unchanged:
        versions.record(
            db,
            versions.Version(
                job.collection,
                job.kind,
                job.source,
                outcome.content_hash or job.content_hash,
                job.id,
                outcome.etag,
                outcome.last_modified,
            ),
        )


def _summary(outcome: Outcome) -> str:
    if outcome.unchanged:
        return "unchanged: nothing to embed"
    if outcome.reused:
        return (
            f"{outcome.vectors} vectors: {outcome.vectors - outcome.reused} embedded,"
            f" {outcome.reused} reused"
        )
    return f"{outcome.vectors} vectors"


def fail(db: Database, job: Job, owner: str, error: str) -> None:
    """End the job as failed, for good."""
    stamp = now()
    with db.transaction():
        changed = db.execute(
            "UPDATE jobs SET state = ?, error = ?, vector_count = 0, completed_at = ?,"
            f" updated_at = ?, lease_owner = NULL WHERE {_OWNED}",
            (FAILED, error, stamp, stamp, job.id, owner),
        )
        if changed:
            add_event(db, job.id, "failed", error, {"attempts": job.attempts})
            outbox.queue_for(db, job.id)


def schedule_retry(db: Database, job: Job, owner: str, error: str, delay_s: float) -> str | None:
    """Put the job in ``retrying`` until ``delay_s`` from now; return when it is due."""
    due = from_now(delay_s)
    with db.transaction():
        changed = db.execute(
            "UPDATE jobs SET state = ?, error = ?, stage = NULL, progress = 0,"
            " vector_count = 0, not_before = ?, updated_at = ?, lease_owner = NULL"
            f" WHERE {_OWNED}",
            (RETRYING, error, due, now(), job.id, owner),
        )
        if not changed:
            return None
        add_event(
            db,
            job.id,
            "retry_scheduled",
            f"in {delay_s:.1f} s after: {error}",
            {"attempt": job.attempts, "delay_s": round(delay_s, 3), "due": due},
        )
    return due


def hand_back(db: Database, job: Job, owner: str, reason: str) -> bool:
    """Return a job we started but will not finish to ``queued``.

    A hand-back on shutdown is not the job's fault, so its attempt is not counted.
    """
    with db.transaction():
        changed = db.execute(
            "UPDATE jobs SET state = ?, stage = NULL, progress = 0, vector_count = 0,"
            " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,"
            " lease_owner = NULL, heartbeat_at = NULL, started_at = NULL, updated_at = ?"
            f" WHERE {_OWNED}",
            (QUEUED, now(), job.id, owner),
        )
        if changed:
            add_event(db, job.id, "handed_back", reason)
    return changed > 0


def supersede(db: Database, job: Job) -> list[str]:
    """Mark older completed jobs of the same document as replaced by ``job``.

    The same document is the same source: a file's path, a page's URL. Their
    vectors are gone (the caller deleted them), so their counts go to 0.
    """
    with db.transaction():
        rows = db.fetchall(
            "SELECT id FROM jobs WHERE collection = ? AND kind = ? AND source = ?"
            " AND state = ? AND id != ? AND vector_count > 0",
            (job.collection, job.kind, job.source, COMPLETED, job.id),
        )
        for row in rows:
            db.execute(
                "UPDATE jobs SET vector_count = 0, updated_at = ? WHERE id = ?", (now(), row["id"])
            )
            add_event(db, row["id"], "superseded", f"re-ingested as {job.id}")
    return [r["id"] for r in rows]


def vectors_removed(db: Database, job_id: str) -> None:
    """Record that a cancelled job's vectors are gone from the store."""
    with db.transaction():
        db.execute("UPDATE jobs SET vector_count = 0, updated_at = ? WHERE id = ?", (now(), job_id))
        add_event(db, job_id, "vectors_removed", "after cancel")


def cancel(db: Database, job_id: str) -> str:
    """Cancel one job; return "" or why it cannot be cancelled.

    A waiting job simply never runs. A processing job is marked at once; its
    worker notices at the next checkpoint and removes what it wrote (the
    job's ``vector_count`` stays until then, so recovery knows what to clean).
    """
    stamp = now()
    with db.transaction():
        state = _state_for_update(db, job_id)
        if state not in (QUEUED, RETRYING, PROCESSING):
            return f"{job_id} is {state}; only queued, retrying or processing jobs cancel"
        db.execute(
            "UPDATE jobs SET state = ?, stage = NULL, not_before = NULL, completed_at = ?,"
            " updated_at = ?, lease_owner = NULL WHERE id = ?",
            (CANCELLED, stamp, stamp, job_id),
        )
        add_event(db, job_id, "cancelled", f"was {state}")
    return ""


def requeue(db: Database, job_id: str) -> str:
    """Put a failed or cancelled job back in line with fresh attempts; "" or why not."""
    with db.transaction():
        state = _state_for_update(db, job_id)
        if state not in (FAILED, CANCELLED):
            return f"{job_id} is {state}; only failed or cancelled jobs can be retried"
        db.execute(
            "UPDATE jobs SET state = ?, attempts = 0, error = NULL, stage = NULL, progress = 0,"
            " not_before = NULL, started_at = NULL, completed_at = NULL, updated_at = ?"
            " WHERE id = ?",
            (QUEUED, now(), job_id),
        )
        add_event(db, job_id, "requeued", f"was {state}")
    return ""


def _state_for_update(db: Database, job_id: str) -> str | None:
    row = db.fetchone("SELECT state FROM jobs WHERE id = ?", (job_id,))
    return str(row["state"]) if row else None
