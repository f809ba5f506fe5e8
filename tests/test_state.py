"""The state database: migrations, jobs, claims and recovery, on a real SQLite file."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from conftest import wait_until
from ingestq.errors import NotFoundError, StateError, UsageError, WriterBusy
from ingestq.state import jobs, lifecycle
from ingestq.state.db import Database, SqliteDatabase, fetchval, waiting_at_most
from ingestq.state.events import events_for
from ingestq.state.lifecycle import Outcome
from ingestq.state.migrations import MIGRATIONS
from ingestq.state.recovery import RecoveryReport, recover_lost_leases
from ingestq.times import now


def _db(home: Path) -> Database:
    return SqliteDatabase(home / "state.db")


def _pragma(home: Path, name: str) -> object:
    with sqlite3.connect(home / "state.db") as raw:
        return raw.execute(f"PRAGMA {name}").fetchone()[0]


def _new(db: Database, n: int = 1, digest: str = "h") -> list[jobs.Job]:
    return lifecycle.create_jobs(
        db,
        [
            jobs.NewJob("pdf", f"/d/{i}.pdf", "default", content_hash=f"{digest}{i}")
            for i in range(n)
        ],
    )


def test_first_use_creates_schema_in_wal_mode(home: Path) -> None:
    db = _db(home)
    assert (home / "state.db").is_file()
    assert _pragma(home, "journal_mode") == "wal"
    assert _pragma(home, "user_version") == len(MIGRATIONS)
    tables = {r["name"] for r in db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "events"} <= tables
    # Reopening applies nothing twice.
    _db(home).close()
    assert _pragma(home, "user_version") == len(MIGRATIONS)


def test_create_jobs_is_atomic(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _db(home)
    bad = [jobs.NewJob("pdf", "/a.pdf", "default"), jobs.NewJob("pdf", None, "default")]  # type: ignore[arg-type]
    with pytest.raises(StateError) as failed:
        lifecycle.create_jobs(db, bad)
    assert isinstance(failed.value.__cause__, sqlite3.IntegrityError)
    assert fetchval(db, "SELECT count(*) FROM jobs") == 0
    assert fetchval(db, "SELECT count(*) FROM events") == 0


def test_new_jobs_are_queued_with_an_event(home: Path) -> None:
    db = _db(home)
    [job] = _new(db)
    assert job.state == jobs.QUEUED and len(job.id) == 26
    assert job.queued_at.endswith("Z")
    assert [e["event"] for e in events_for(db, job.id)] == ["queued"]


def test_get_job_by_prefix(home: Path) -> None:
    db = _db(home)
    a, b = _new(db, 2)
    assert jobs.get_job(db, a.id).id == a.id
    assert jobs.get_job(db, a.id[:20].lower()).id == a.id
    with pytest.raises(NotFoundError):
        jobs.get_job(db, "ZZZZ")
    common = 0
    while a.id[common] == b.id[common]:
        common += 1
    with pytest.raises(UsageError, match="more than one"):
        jobs.get_job(db, a.id[:common])


def test_list_jobs_filters_and_orders_newest_first(home: Path) -> None:
    db = _db(home)
    first = _new(db, 3)
    # Newest first is by the time queued, to the millisecond: let one pass.
    wait_until(lambda: now() > first[-1].queued_at, 5, "the clock to move on")
    later = _new(db, 1, digest="z")
    listed = jobs.list_jobs(db, limit=2)
    assert listed[0].id == later[0].id and len(listed) == 2
    lifecycle.claim(db, first[0].id, "w")
    assert [j.id for j in jobs.list_jobs(db, states=["processing"])] == [first[0].id]


def test_duplicates_are_found_only_for_live_jobs_in_the_same_collection(home: Path) -> None:
    db = _db(home)
    [job] = _new(db)
    assert (
        jobs.find_live(db, "default", "pdf", "content_hash", ["h0"], jobs.DEDUP_STATES)["h0"].id
        == job.id
    )
    assert jobs.find_live(db, "other", "pdf", "content_hash", ["h0"], jobs.DEDUP_STATES) == {}
    claimed = lifecycle.claim(db, job.id, "w")
    assert claimed is not None
    lifecycle.fail(db, claimed, "w", "boom")
    assert jobs.find_live(db, "default", "pdf", "content_hash", ["h0"], jobs.DEDUP_STATES) == {}


def test_a_job_is_claimed_once(home: Path) -> None:
    db = _db(home)
    [job] = _new(db)
    claimed = lifecycle.claim(db, job.id, "w1")
    assert claimed is not None and claimed.attempts == 1 and claimed.started_at
    assert lifecycle.claim(db, job.id, "w2") is None


def test_writes_need_the_lease(home: Path) -> None:
    db = _db(home)
    [job] = _new(db)
    claimed = lifecycle.claim(db, job.id, "w1")
    assert claimed is not None
    assert not lifecycle.report(
        db, claimed, "intruder", stage="embedding", progress=50, vector_count=3
    )
    assert lifecycle.report(
        db, claimed, "w1", stage="embedding", progress=50, vector_count=3, note_stage=True
    )
    lifecycle.complete(db, claimed, "intruder", Outcome(vectors=9, pages=1))
    assert jobs.get_job(db, job.id).state == jobs.PROCESSING
    lifecycle.complete(db, claimed, "w1", Outcome(vectors=9, pages=1))
    done = jobs.get_job(db, job.id)
    assert (done.state, done.vector_count, done.progress) == (jobs.COMPLETED, 9, 100)
    assert done.completed_at and done.lease_owner is None
    events = [e["event"] for e in events_for(db, job.id)]
    assert events == ["queued", "claimed", "stage", "completed"]


def test_hand_back_returns_the_job_without_counting_the_attempt(home: Path) -> None:
    db = _db(home)
    [job] = _new(db)
    claimed = lifecycle.claim(db, job.id, "w1")
    assert claimed is not None
    lifecycle.hand_back(db, claimed, "w1", "shutting down")
    back = jobs.get_job(db, job.id)
    assert (back.state, back.attempts, back.lease_owner) == (jobs.QUEUED, 0, None)


def test_lost_leases_are_recovered_with_the_attempt_counted(home: Path) -> None:
    db = _db(home)
    dead, mine, stale, spent = _new(db, 4)
    for job, owner in ((dead, "dead-worker"), (mine, "me"), (stale, "me"), (spent, "gone")):
        lifecycle.claim(db, job.id, owner)
    db.execute(
        "UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", (stale.id,)
    )
    db.execute("UPDATE jobs SET attempts = 4 WHERE id = ?", (spent.id,))
    report = RecoveryReport()
    recover_lost_leases(db, "me", lease_s=60, max_attempts=4, report=report)
    assert sorted(report.requeued) == sorted([dead.id, stale.id])
    assert report.failed == [spent.id]
    got = jobs.get_job(db, dead.id)
    assert (got.state, got.attempts) == (jobs.QUEUED, 1)
    assert jobs.get_job(db, mine.id).state == jobs.PROCESSING
    failed = jobs.get_job(db, spent.id)
    assert failed.state == jobs.FAILED and "lost during attempt 4 of 4" in (failed.error or "")
    assert "recovered" in [e["event"] for e in events_for(db, dead.id)]


def test_claim_waits_for_not_before(home: Path) -> None:
    db = _db(home)
    [later] = lifecycle.create_jobs(
        db, [jobs.NewJob("pdf", "/x.pdf", "default", not_before="2999-01-01T00:00:00.000Z")]
    )
    assert lifecycle.claim(db, later.id, "w") is None
    db.execute("UPDATE jobs SET not_before = '2000-01-01T00:00:00.000Z'")
    assert lifecycle.claim(db, later.id, "w") is not None


def test_retry_schedule_cancel_and_requeue(home: Path) -> None:
    db = _db(home)
    [job] = _new(db)
    claimed = lifecycle.claim(db, job.id, "w")
    assert claimed is not None
    due = lifecycle.schedule_retry(db, claimed, "w", "HTTP 503 (transient)", 30)
    waiting = jobs.get_job(db, job.id)
    assert (waiting.state, waiting.not_before, waiting.error) == (
        jobs.RETRYING,
        due,
        "HTTP 503 (transient)",
    )
    assert lifecycle.cancel(db, job.id) == ""
    assert jobs.get_job(db, job.id).state == jobs.CANCELLED
    assert "only queued" in lifecycle.cancel(db, job.id)
    assert lifecycle.requeue(db, job.id) == ""
    again = jobs.get_job(db, job.id)
    assert (again.state, again.attempts, again.error, again.not_before) == (
        jobs.QUEUED,
        0,
        None,
        None,
    )
    assert "only failed" in lifecycle.requeue(db, job.id)
    events = [e["event"] for e in events_for(db, job.id)]
    assert events == ["queued", "claimed", "retry_scheduled", "cancelled", "requeued"]


def test_a_writer_waits_for_another_instead_of_failing_locked(home: Path) -> None:
    holder = _db(home)
    other = _db(home)
    started = threading.Event()

    def hold() -> None:
        with holder.transaction():
            holder.execute("UPDATE jobs SET state = state")
            started.set()
            time.sleep(1.0)

    thread = threading.Thread(target=hold)
    thread.start()
    started.wait(5)
    _new(other, 5)  # blocks on the lock, then succeeds
    thread.join()
    assert fetchval(other, "SELECT count(*) FROM jobs") == 5


def test_many_threads_of_one_process_write_in_turn_and_lose_no_update(home: Path) -> None:
    """Twenty threads, each with its own handle, read-modify-write one row 20 times."""
    setup = _db(home)
    setup.execute("CREATE TABLE counter (n INTEGER NOT NULL)")
    setup.execute("INSERT INTO counter (n) VALUES (0)")
    errors: list[BaseException] = []

    def writer() -> None:
        db = _db(home)
        try:
            for _ in range(20):
                with db.transaction():
                    n = fetchval(db, "SELECT n FROM counter")
                    db.execute("UPDATE counter SET n = ?", (n + 1,))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=writer) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert fetchval(setup, "SELECT n FROM counter") == 400


def test_a_writer_of_this_process_gives_up_with_a_busy_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingestq.errors import StateBusyError
    from ingestq.state import db as db_module

    holder, other = _db(home), _db(home)
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_S", 0.3)
    started, done = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.transaction():
            started.set()
            done.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    started.wait(5)
    try:
        # The process's own writer lock, not SQLite's busy timeout (30 s on this
        # handle's connection), is what turns the wait into an error.
        with pytest.raises(StateBusyError, match="stayed locked"), other.transaction():
            pass
    finally:
        done.set()
        thread.join()
    with other.transaction():  # and once the holder is done, the lock is free again
        other.execute("UPDATE jobs SET state = state")


HOLD_IN_ANOTHER_PROCESS = """
import sys, time
from pathlib import Path
from ingestq.state.db import SqliteDatabase
db = SqliteDatabase(Path(sys.argv[1]))
with db.transaction():
    db.execute("UPDATE jobs SET state = state")
    print("holding", flush=True)
    sys.stdin.readline()
print("done", flush=True)
"""


def test_writers_of_other_processes_wait_for_the_turn_in_the_kernel(home: Path) -> None:
    """A transaction holds an flock beside the database, which other processes wait on
    (woken at once) instead of sleeping in SQLite's busy handler."""
    import fcntl
    import subprocess
    import sys

    _db(home).close()  # the schema, before the other process opens the file
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_IN_ANOTHER_PROCESS, str(home / "state.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "holding"
        turn = home / "state.db-writer"
        with turn.open("a") as probe:
            with pytest.raises(BlockingIOError):  # the other process holds the turn
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waiter = threading.Thread(target=_new, args=(_db(home), 3))
            waiter.start()
            time.sleep(0.2)
            assert waiter.is_alive(), "a writer here waits for the other process's turn"
            proc.stdin.write("\n")
            proc.stdin.flush()
            waiter.join(10)
            assert not waiter.is_alive()
            assert proc.stdout.readline().strip() == "done"
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again once both are done
            fcntl.flock(probe, fcntl.LOCK_UN)
    finally:
        proc.kill()
        proc.wait()
    assert fetchval(_db(home), "SELECT count(*) FROM jobs") == 3


def test_without_a_turn_file_writers_fall_back_to_sqlite_alone(home: Path) -> None:
    db = _db(home)
    (home / "state.db-writer").mkdir()  # cannot be opened as a file: no flock to take
    _new(db, 2)
    with db.transaction():
        db.execute("UPDATE jobs SET state = state")
    assert fetchval(db, "SELECT count(*) FROM jobs") == 2


def test_a_nested_transaction_keeps_the_turn_until_the_outer_one_ends(home: Path) -> None:
    import fcntl

    db = _db(home)
    with db.transaction():
        with db.transaction():
            db.execute("UPDATE jobs SET state = state")
        # Still inside the outer transaction: the turn must still be held.
        with (home / "state.db-writer").open("a") as probe, pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with (home / "state.db-writer").open("a") as probe:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_the_recovery_lease_has_one_holder_and_gone_workers_are_forgotten(home: Path) -> None:
    from ingestq.state import workers

    db = _db(home)
    assert workers.take_lease(db, "recovery", "a:1", 30)
    assert not workers.take_lease(db, "recovery", "b:2", 30), "held by a:1"
    assert workers.take_lease(db, "recovery", "a:1", 30), "renewed by its holder"
    assert workers.take_lease(db, "other", "b:2", 30), "another lease is another name"
    for owner in ("a:1", "b:2"):
        workers.register(db, owner, owner.split(":")[0], int(owner.split(":")[1]), "{}")
    # a:1 went silent a long time ago (killed: it never unregistered).
    db.execute("UPDATE workers SET seen_at = '2000-01-01T00:00:00.000Z' WHERE owner = 'a:1'")
    assert [w.owner for w in workers.alive(db, 60)] == ["b:2"]
    assert workers.forget_gone(db, 3600) == 1
    assert not workers.take_lease(db, "other", "c:3", 30), "b:2 still holds its lease"
    assert workers.take_lease(db, "recovery", "c:3", 30), "a:1's lease went with it"


def test_the_duplicate_lookup_searches_by_content_not_through_every_job(home: Path) -> None:
    """EXPLAIN QUERY PLAN of the statement find_live runs for an upload's digest."""
    db = _db(home)
    _new(db, 50)
    seen: list[tuple[str, tuple[object, ...]]] = []

    class Recording:
        dialect = "sqlite"

        def fetchall(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
            seen.append((sql, tuple(params)))
            return db.fetchall(sql, params)

    found = jobs.find_live(Recording(), "default", "pdf", "content_hash", ["h7"], jobs.DEDUP_STATES)  # type: ignore[arg-type]
    assert list(found) == ["h7"]
    [(sql, params)] = seen
    with sqlite3.connect(home / "state.db") as raw:
        plan = " ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "USING INDEX idx_jobs_collection_kind_content_hash" in plan, plan
    assert "content_hash=?" in plan, plan


def test_a_writer_that_will_not_wait_is_refused_before_it_writes(home: Path) -> None:
    """``waiting_at_most``: a transaction that cannot take its turn in time raises
    WriterBusy and writes nothing, whether a thread of this process or another
    process (an flock of ``state.db-writer``) holds the turn."""
    db = SqliteDatabase(home / "state.db")
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with db.transaction():
            db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            holding.set()
            release.wait(10)

    def write_impatiently() -> None:
        with waiting_at_most(0.05), db.transaction():
            db.execute("INSERT INTO t VALUES (1)")

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(WriterBusy):
            write_impatiently()
    finally:
        release.set()
        thread.join()
    # Another process's turn: a lock on a file description of its own.
    other = os.open(home / "state.db-writer", os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(WriterBusy):
            write_impatiently()
        assert time.monotonic() - started < 5  # refused, not waited out
    finally:
        os.close(other)
    write_impatiently()  # the turn is free: it writes
    assert fetchval(db, "SELECT count(*) FROM t") == 1
    db.close()
