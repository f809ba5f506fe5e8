"""``prune``: old finished jobs lose their events and copies, never what is still needed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conftest import (
    FOUR_PAGES,
    GEOTOPO,
    GOOGLE_DOC,
    MULTICOLUMN,
    TRIVIAL,
    corpus,
    on_servers,
    run_cli,
)
from conftest import state as state_db
from ingestq.config import load_settings
from ingestq.ops.prune import prune
from ingestq.ops.submit import add_paths
from ingestq.state import blobdata, versions
from ingestq.state.db import fetchval
from ingestq.state.jobs import Job, get_job
from ingestq.store import open_blob_store
from ingestq.store.blobs import FileBlobStore, put_bytes
from ingestq.times import ago

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")

OLD, RECENT = "2026-01-01T00:00:00.000000Z", "2099-01-01T00:00:00.000000Z"


def set_job(job: Job, state: str, when: str, content_hash: str | None = None) -> None:
    db = state_db()
    with db.transaction():
        db.execute(
            "UPDATE jobs SET state = ?, completed_at = ?, updated_at = ?, queued_at = ?,"
            " content_hash = coalesce(?, content_hash) WHERE id = ?",
            (state, when, when, when, content_hash, job.id),
        )


def age_blob(digest: str, seconds: float) -> None:
    """Make the blob look stored ``seconds`` ago, wherever the store keeps it."""
    if on_servers():
        db = state_db()
        db.execute("UPDATE blobs SET stored_at = ? WHERE digest = ?", (ago(seconds), digest))
    else:
        path = FileBlobStore(load_settings().blobs_dir).path(digest)
        os.utime(path, (time.time() - seconds,) * 2)


def event_count(job_id: str) -> int:
    return int(fetchval(state_db(), "SELECT count(*) FROM events WHERE job_id = ?", (job_id,)))


def test_prune_keeps_what_sources_and_live_jobs_need(tmp_path: Path) -> None:
    settings = load_settings()
    docs = [TRIVIAL, FOUR_PAGES, MULTICOLUMN, GOOGLE_DOC, GEOTOPO]
    a, b, c, d, e = (add_paths(settings, [str(corpus(p))]).submitted[0].job for p in docs)
    set_job(a, "completed", OLD)  # old, but the chunks of a current source come from it
    db = state_db()
    with db.transaction():
        versions.record(db, versions.Version("default", "pdf", a.source, a.content_hash, a.id))
    set_job(b, "completed", OLD)  # old and superseded: its copy can go
    set_job(c, "failed", OLD, content_hash=e.content_hash)  # shares its content with e
    set_job(d, "completed", RECENT)  # not old enough
    set_job(e, "queued", OLD)  # still to run: never touched, however old
    store = open_blob_store(settings)
    orphan_old, _ = put_bytes(store, b"left by an add that died")
    orphan_young, _ = put_bytes(store, b"left by an add still committing")
    age_blob(orphan_old, 90 * 86400)
    blobs = {j.id: j.content_hash or "" for j in (a, b, d, e)}
    events_before = {j.id: event_count(j.id) for j in (a, b, c, d, e)}
    assert all(events_before.values())

    dry = prune(settings, 30 * 86400, dry_run=True)
    assert (dry.jobs, dry.blobs, dry.kept_blobs) == (3, 2, 2)
    assert dry.events == sum(events_before[j.id] for j in (a, b, c))
    assert all(store.exists(p) for p in blobs.values()) and store.exists(orphan_old)
    assert {j.id: event_count(j.id) for j in (a, b, c, d, e)} == events_before

    done = prune(settings, 30 * 86400)
    assert (done.jobs, done.events, done.blobs) == (dry.jobs, dry.events, dry.blobs)
    assert sorted(done.removed) == sorted([b.content_hash, orphan_old])
    assert not store.exists(blobs[b.id]) and not store.exists(orphan_old)
    assert all(store.exists(blobs[j.id]) for j in (a, d, e))
    assert store.exists(orphan_young), "a fresh unnamed blob may be an add in progress"
    assert [event_count(j.id) for j in (a, b, c)] == [0, 0, 0]
    assert event_count(d.id) == events_before[d.id] and event_count(e.id) == events_before[e.id]
    # The rows stay, so status still answers for them.
    assert get_job(db, b.id).state == "completed"
    again = prune(settings, 30 * 86400)
    assert (again.jobs, again.events, again.blobs) == (0, 0, 0)


def test_prune_from_the_cli() -> None:
    [sub] = add_paths(load_settings(), [str(corpus(TRIVIAL))]).submitted
    set_job(sub.job, "failed", OLD)
    dry = run_cli("prune", "--older-than", "30d", "--dry-run", "--json", check=True)
    assert json.loads(dry.stdout) | {"bytes": 0} == {
        "dry_run": True,
        "jobs": 1,
        "events": 1,
        "blobs": 1,
        "bytes": 0,
        "kept_blobs": 0,
    }
    done = run_cli("prune", "--older-than", "30d", check=True)
    assert "1 old jobs: deleted 1 events and 1 stored copies" in done.stdout
    assert not open_blob_store(load_settings()).exists(sub.job.content_hash or "")


def test_prune_needs_a_sensible_age() -> None:
    for args in (["--older-than", "soon"], ["--older-than", "-3d"], []):
        proc = run_cli("prune", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_prune_sweeps_copies_that_never_finished() -> None:
    settings = load_settings()
    if on_servers():  # a put killed after two parts: rows no blob names
        db = state_db()
        for n in range(2):
            blobdata.write_part(db, "killed-put", n, b"half" * 1000)
        db.execute("UPDATE blob_parts SET written_at = ?", (ago(2 * 86400),))

        def left() -> int:
            return int(fetchval(db, "SELECT count(*) FROM blob_parts"))

    else:  # a copy into the home's blobs/ killed halfway
        settings.blobs_dir.mkdir(parents=True)
        partial = settings.blobs_dir / ".incoming-killed"
        partial.write_bytes(b"half" * 2000)
        os.utime(partial, (time.time() - 2 * 86400,) * 2)

        def left() -> int:
            return int(partial.exists())

    dry = prune(settings, 86400, dry_run=True)
    assert (dry.blobs, dry.bytes) == (0, 8000) and left() > 0, "a dry run deletes nothing"
    done = prune(settings, 86400)
    assert (done.blobs, done.bytes, left()) == (0, 8000, 0)
