"""``prune``: old finished jobs lose their events and copies, never what is still needed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from conftest import FOUR_PAGES, GEOTOPO, GOOGLE_DOC, MULTICOLUMN, TRIVIAL, corpus, run_cli
from conftest import state as state_db
from ingestq.config import load_settings
from ingestq.ops.prune import prune
from ingestq.ops.submit import add_paths
from ingestq.state import versions
from ingestq.state.db import fetchval
from ingestq.state.jobs import Job, get_job
from ingestq.store.blobs import FileBlobStore

OLD, RECENT = "2026-01-01T00:00:00.000000Z", "2099-01-01T00:00:00.000000Z"


def set_job(job: Job, state: str, when: str, content_hash: str | None = None) -> None:
    db = state_db()
    with db.transaction():
        db.execute(
            "UPDATE jobs SET state = ?, completed_at = ?, updated_at = ?, queued_at = ?,"
            " content_hash = coalesce(?, content_hash) WHERE id = ?",
            (state, when, when, when, content_hash, job.id),
        )


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
    store = FileBlobStore(settings.blobs_dir)
    orphan_old = store.path("ab" * 32)
    orphan_young = store.path("cd" * 32)
    for orphan in (orphan_old, orphan_young):
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"left by an add that died")
    os.utime(orphan_old, (time.time() - 90 * 86400,) * 2)
    blobs = {j.id: store.path(j.content_hash or "") for j in (a, b, d, e)}
    events_before = {j.id: event_count(j.id) for j in (a, b, c, d, e)}
    assert all(events_before.values())

    dry = prune(settings, 30 * 86400, dry_run=True)
    assert (dry.jobs, dry.blobs, dry.kept_blobs) == (3, 2, 2)
    assert dry.events == sum(events_before[j.id] for j in (a, b, c))
    assert all(p.exists() for p in blobs.values()) and orphan_old.exists()
    assert {j.id: event_count(j.id) for j in (a, b, c, d, e)} == events_before

    done = prune(settings, 30 * 86400)
    assert (done.jobs, done.events, done.blobs) == (dry.jobs, dry.events, dry.blobs)
    assert sorted(done.removed) == sorted([b.content_hash, "ab" * 32])
    assert not blobs[b.id].exists() and not orphan_old.exists()
    assert blobs[a.id].exists() and blobs[d.id].exists() and blobs[e.id].exists()
    assert orphan_young.exists(), "a fresh unnamed blob may be an add in progress"
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
    assert not FileBlobStore(load_settings().blobs_dir).exists(sub.job.content_hash or "")


def test_prune_needs_a_sensible_age() -> None:
    for args in (["--older-than", "soon"], ["--older-than", "-3d"], []):
        proc = run_cli("prune", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
