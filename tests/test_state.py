"""The state database: migrations, jobs, claims and recovery, on a real SQLite file."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from ingestq import jobs, lifecycle
from ingestq.db import connect, transaction
from ingestq.errors import NotFoundError, UsageError
from ingestq.migrations import MIGRATIONS
from ingestq.pipeline import Outcome
from ingestq.recovery import RecoveryReport, recover_lost_leases


def _db(home: Path) -> sqlite3.Connection:
    return connect(home / "state.db")


def _new(conn: sqlite3.Connection, n: int = 1, digest: str = "h") -> list[jobs.Job]:
    return jobs.create_jobs(
        conn,
        [
            jobs.NewJob("pdf", f"/d/{i}.pdf", "default", content_hash=f"{digest}{i}")
            for i in range(n)
        ],
    )


def test_first_use_creates_schema_in_wal_mode(home: Path) -> None:
    conn = _db(home)
    assert (home / "state.db").is_file()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "events"} <= tables
    # Reopening applies nothing twice.
    connect(home / "state.db").close()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_create_jobs_is_atomic(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _db(home)
    bad = [jobs.NewJob("pdf", "/a.pdf", "default"), jobs.NewJob("pdf", None, "default")]  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        jobs.create_jobs(conn, bad)
    assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_new_jobs_are_queued_with_an_event(home: Path) -> None:
    conn = _db(home)
    [job] = _new(conn)
    assert job.state == jobs.QUEUED and len(job.id) == 26
    assert job.queued_at.endswith("Z")
    assert [e["event"] for e in jobs.events_for(conn, job.id)] == ["queued"]


def test_get_job_by_prefix(home: Path) -> None:
    conn = _db(home)
    a, b = _new(conn, 2)
    assert jobs.get_job(conn, a.id).id == a.id
    assert jobs.get_job(conn, a.id[:20].lower()).id == a.id
    with pytest.raises(NotFoundError):
        jobs.get_job(conn, "ZZZZ")
    common = 0
    while a.id[common] == b.id[common]:
        common += 1
    with pytest.raises(UsageError, match="more than one"):
        jobs.get_job(conn, a.id[:common])


def test_list_jobs_filters_and_orders_newest_first(home: Path) -> None:
    conn = _db(home)
    first = _new(conn, 3)
    time.sleep(0.01)
    later = _new(conn, 1, digest="z")
    listed = jobs.list_jobs(conn, limit=2)
    assert listed[0].id == later[0].id and len(listed) == 2
    lifecycle.claim(conn, first[0].id, "w")
    assert [j.id for j in jobs.list_jobs(conn, states=["processing"])] == [first[0].id]


def test_duplicates_are_found_only_for_live_jobs_in_the_same_collection(home: Path) -> None:
    conn = _db(home)
    [job] = _new(conn)
    assert (
        jobs.find_live(conn, "default", "pdf", "content_hash", ["h0"], jobs.DEDUP_STATES)["h0"].id
        == job.id
    )
    assert jobs.find_live(conn, "other", "pdf", "content_hash", ["h0"], jobs.DEDUP_STATES) == {}
    claimed = lifecycle.claim(conn, job.id, "w")
    assert claimed is not None
    lifecycle.fail(conn, claimed, "w", "boom")
    assert jobs.find_live(conn, "default", "pdf", "content_hash", ["h0"], jobs.DEDUP_STATES) == {}


def test_a_job_is_claimed_once(home: Path) -> None:
    conn = _db(home)
    [job] = _new(conn)
    claimed = lifecycle.claim(conn, job.id, "w1")
    assert claimed is not None and claimed.attempts == 1 and claimed.started_at
    assert lifecycle.claim(conn, job.id, "w2") is None


def test_writes_need_the_lease(home: Path) -> None:
    conn = _db(home)
    [job] = _new(conn)
    claimed = lifecycle.claim(conn, job.id, "w1")
    assert claimed is not None
    assert not lifecycle.report(
        conn, claimed, "intruder", stage="embedding", progress=50, vector_count=3
    )
    assert lifecycle.report(
        conn, claimed, "w1", stage="embedding", progress=50, vector_count=3, note_stage=True
    )
    lifecycle.complete(conn, claimed, "intruder", Outcome(vectors=9, pages=1))
    assert jobs.get_job(conn, job.id).state == jobs.PROCESSING
    lifecycle.complete(conn, claimed, "w1", Outcome(vectors=9, pages=1))
    done = jobs.get_job(conn, job.id)
    assert (done.state, done.vector_count, done.progress) == (jobs.COMPLETED, 9, 100)
    assert done.completed_at and done.lease_owner is None
    events = [e["event"] for e in jobs.events_for(conn, job.id)]
    assert events == ["queued", "claimed", "stage", "completed"]


def test_hand_back_returns_the_job_without_counting_the_attempt(home: Path) -> None:
    conn = _db(home)
    [job] = _new(conn)
    claimed = lifecycle.claim(conn, job.id, "w1")
    assert claimed is not None
    lifecycle.hand_back(conn, claimed, "w1", "shutting down")
    back = jobs.get_job(conn, job.id)
    assert (back.state, back.attempts, back.lease_owner) == (jobs.QUEUED, 0, None)


def test_lost_leases_are_recovered_with_the_attempt_counted(home: Path) -> None:
    conn = _db(home)
    dead, mine, stale, spent = _new(conn, 4)
    for job, owner in ((dead, "dead-worker"), (mine, "me"), (stale, "me"), (spent, "gone")):
        lifecycle.claim(conn, job.id, owner)
    conn.execute(
        "UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", (stale.id,)
    )
    conn.execute("UPDATE jobs SET attempts = 4 WHERE id = ?", (spent.id,))
    report = RecoveryReport()
    recover_lost_leases(conn, "me", lease_s=60, max_attempts=4, report=report)
    assert sorted(report.requeued) == sorted([dead.id, stale.id])
    assert report.failed == [spent.id]
    got = jobs.get_job(conn, dead.id)
    assert (got.state, got.attempts) == (jobs.QUEUED, 1)
    assert jobs.get_job(conn, mine.id).state == jobs.PROCESSING
    failed = jobs.get_job(conn, spent.id)
    assert failed.state == jobs.FAILED and "lost during attempt 4 of 4" in (failed.error or "")
    assert "recovered" in [e["event"] for e in jobs.events_for(conn, dead.id)]


def test_claim_waits_for_not_before(home: Path) -> None:
    conn = _db(home)
    [later] = jobs.create_jobs(
        conn, [jobs.NewJob("pdf", "/x.pdf", "default", not_before="2999-01-01T00:00:00.000Z")]
    )
    assert lifecycle.claim(conn, later.id, "w") is None
    conn.execute("UPDATE jobs SET not_before = '2000-01-01T00:00:00.000Z'")
    assert lifecycle.claim(conn, later.id, "w") is not None


def test_retry_schedule_cancel_and_requeue(home: Path) -> None:
    conn = _db(home)
    [job] = _new(conn)
    claimed = lifecycle.claim(conn, job.id, "w")
    assert claimed is not None
    due = lifecycle.schedule_retry(conn, claimed, "w", "HTTP 503 (transient)", 30)
    waiting = jobs.get_job(conn, job.id)
    assert (waiting.state, waiting.not_before, waiting.error) == (
        jobs.RETRYING,
        due,
        "HTTP 503 (transient)",
    )
    assert lifecycle.cancel(conn, job.id) == ""
    assert jobs.get_job(conn, job.id).state == jobs.CANCELLED
    assert "only queued" in lifecycle.cancel(conn, job.id)
    assert lifecycle.requeue(conn, job.id) == ""
    again = jobs.get_job(conn, job.id)
    assert (again.state, again.attempts, again.error, again.not_before) == (
        jobs.QUEUED,
        0,
        None,
        None,
    )
    assert "only failed" in lifecycle.requeue(conn, job.id)
    events = [e["event"] for e in jobs.events_for(conn, job.id)]
    assert events == ["queued", "claimed", "retry_scheduled", "cancelled", "requeued"]


def test_a_writer_waits_for_another_instead_of_failing_locked(home: Path) -> None:
    holder = _db(home)
    other = _db(home)
    started = threading.Event()

    def hold() -> None:
        with transaction(holder):
            holder.execute("UPDATE jobs SET state = state")
            started.set()
            time.sleep(1.0)

    thread = threading.Thread(target=hold)
    thread.start()
    started.wait(5)
    _new(other, 5)  # blocks on the lock, then succeeds
    thread.join()
    assert other.execute("SELECT count(*) FROM jobs").fetchone()[0] == 5
