"""End to end over real processes: `ingestq add`, `ingestq worker`, status, search, signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    BROKEN,
    ENCRYPTED,
    FOUR_PAGES,
    GEOTOPO,
    GOOGLE_DOC,
    IMAGE_ONLY,
    MULTICOLUMN,
    TRIVIAL,
    corpus,
    iq,
    on_servers,
    run_cli,
    store_records,
    wait_until,
)

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("backend")]


def jobs_by_id() -> dict[str, dict[str, Any]]:
    rows = json.loads(run_cli("status", "--json", "--limit", "1000", check=True).stdout)
    return {j["id"]: j for j in rows}


def add_json(*paths: Path, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    proc = run_cli("add", *map(str, paths), "--json", *extra)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def chroma_count(home: Path, where: dict[str, Any] | None = None) -> int:
    return len(store_records(where))


def test_add_burst_status_search(home: Path) -> None:
    names = {
        TRIVIAL: "completed",
        FOUR_PAGES: "completed",
        MULTICOLUMN: "completed",
        GOOGLE_DOC: "completed",
        ENCRYPTED: "failed",
        IMAGE_ONLY: "failed",
        BROKEN: "failed",
    }
    submitted = add_json(*(corpus(n) for n in names))
    ids = {Path(e["source"]).name: e["id"] for e in submitted}
    assert len(ids) == len(names)

    burst = run_cli("worker", "--burst", "--json", timeout=300)
    assert burst.returncode == 0, burst.stderr  # failed jobs don't fail the worker
    assert "Traceback" not in burst.stderr
    summary = json.loads(burst.stdout)
    assert summary["counts"] == {"completed": 4, "failed": 3}
    assert {j["id"] for j in summary["jobs"]} == set(ids.values())
    logged = [json.loads(line) for line in burst.stderr.splitlines()]
    assert any(re.match(r"worker \S+:\d+ starting: home ", line["message"]) for line in logged)

    jobs = jobs_by_id()
    for name, state in names.items():
        job = jobs[ids[Path(name).name]]
        assert job["state"] == state, (name, job["error"])
        assert job["attempts"] == 1
    errors = {Path(n).name: jobs[ids[Path(n).name]]["error"] for n in names}
    assert "encrypted" in errors[Path(ENCRYPTED).name]
    assert "no extractable text" in errors[Path(IMAGE_ONLY).name]
    assert "OCR is not supported" in errors[Path(IMAGE_ONLY).name]
    assert "cannot be read" in errors[Path(BROKEN).name]
    assert all("\n" not in (e or "") for e in errors.values()), "errors are one line"
    completed = [j for j in jobs.values() if j["state"] == "completed"]
    assert all(j["vector_count"] > 0 and j["progress"] == 100 for j in completed)
    assert chroma_count(home) == sum(j["vector_count"] for j in completed)

    hits = json.loads(
        run_cli(
            "search",
            "simple is better than complex, flat is better than nested",
            "-k",
            "3",
            "--json",
            check=True,
            timeout=120,
        ).stdout
    )
    assert hits[0]["source"].endswith("google-doc-document.pdf")
    assert hits[0]["job_id"] == ids["google-doc-document.pdf"]
    assert set(hits[0]) == {
        "rank", "score", "source", "page", "section", "job_id", "chunk_id", "snippet", "text",
        "rankers",
    }  # fmt: skip
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]

    text = run_cli("search", "errors should never pass silently", "-k", "1", check=True).stdout
    assert "google-doc-document.pdf" in text and "page 1" in text
    multi = json.loads(
        run_cli(
            "search",
            "a blind text shows the look of the selected font",
            "-k",
            "1",
            "--json",
            check=True,
        ).stdout
    )
    assert multi[0]["source"].endswith("pdflatex-4-pages.pdf")


def test_running_worker_picks_up_jobs_and_stops_cleanly(worker_proc: Any) -> None:
    worker = worker_proc()
    if on_servers():
        # Workers share the servers: a second one on the same home runs beside it.
        wait_until(lambda: "ready:" in worker.log(), 300, "the worker to start")
        second = run_cli("worker", "--burst", timeout=300)
        assert second.returncode == 0, second.stderr
    else:
        # While it runs, a second worker on the same home refuses, naming the first.
        lock = Path(os.environ["INGESTQ_HOME"]) / "worker.lock"
        wait_until(lock.exists, 60, "the worker lock")
        second = run_cli("worker", "--burst", timeout=60)
        assert second.returncode == 1
        assert f"pid {worker.pid}" in second.stderr
    assert "Traceback" not in second.stderr

    [entry] = add_json(corpus(FOUR_PAGES))
    wait_until(
        lambda: jobs_by_id()[entry["id"]]["state"] == "completed",
        120,
        "the worker to complete the job",
    )
    worker.send_signal(signal.SIGINT)
    assert worker.wait(60) == 0, worker.log()
    assert "Traceback" not in worker.log()


def _wait_processing(job_id: str, min_vectors: int = 1) -> None:
    def mid_job() -> bool:
        job = jobs_by_id()[job_id]
        assert job["state"] in ("queued", "processing"), job
        return job["state"] == "processing" and job["vector_count"] >= min_vectors

    wait_until(mid_job, 180, "the job to be mid-way")


def test_sigterm_hands_the_job_back_and_leaves_nothing_processing(
    worker_proc: Any, home: Path
) -> None:
    worker = worker_proc(env={"INGESTQ_SHUTDOWN_GRACE": "0"})
    [entry] = add_json(corpus(GEOTOPO))
    _wait_processing(entry["id"])
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.log()
    job = jobs_by_id()[entry["id"]]
    assert (job["state"], job["vector_count"], job["attempts"]) == ("queued", 0, 0)
    assert chroma_count(home, {"job_id": entry["id"]}) == 0
    # It is still deliverable: a burst finishes it.
    assert iq("worker", "--burst").returncode == 0
    assert jobs_by_id()[entry["id"]]["state"] == "completed"


def test_sigterm_within_grace_finishes_the_job(worker_proc: Any) -> None:
    worker = worker_proc(env={"INGESTQ_SHUTDOWN_GRACE": "120"})
    [entry] = add_json(corpus(GEOTOPO))
    _wait_processing(entry["id"])
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(150) == 0, worker.log()
    assert jobs_by_id()[entry["id"]]["state"] == "completed"


def test_a_killed_worker_loses_no_job_and_leaves_no_duplicates(
    worker_proc: Any, home: Path
) -> None:
    worker = worker_proc()
    [entry] = add_json(corpus(GEOTOPO))
    _wait_processing(entry["id"], min_vectors=64)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)
    assert jobs_by_id()[entry["id"]]["state"] == "processing"  # what a crash leaves behind

    # A clean run of the same file in another collection gives the expected count.
    add_json(corpus(GEOTOPO), extra=("--collection", "clean"))
    assert iq("worker", "--burst").returncode == 0
    jobs = jobs_by_id()
    recovered = jobs[entry["id"]]
    clean = next(j for j in jobs.values() if j["collection"] == "clean")
    assert recovered["state"] == clean["state"] == "completed"
    assert recovered["attempts"] == 2
    assert recovered["vector_count"] == clean["vector_count"]
    assert chroma_count(home) == recovered["vector_count"], "no orphaned or duplicate chunk"
    events = json.loads(run_cli("status", entry["id"], "--json", check=True).stdout)[0]["events"]
    assert "recovered" in [e["event"] for e in events]


def test_a_job_whose_message_was_lost_is_enqueued_again(home: Path) -> None:
    [entry] = add_json(corpus(TRIVIAL))
    # Lose the queue file entirely, as after a crash between commit and enqueue.
    for path in home.glob("queue.db*"):
        path.unlink()
    assert iq("worker", "--burst").returncode == 0
    assert jobs_by_id()[entry["id"]]["state"] == "completed"


def test_concurrent_worker_completes_every_job(worker_proc: Any, home: Path) -> None:
    worker = worker_proc("--concurrency", "2")
    submitted = add_json(
        corpus(FOUR_PAGES), corpus(MULTICOLUMN), corpus(GOOGLE_DOC), corpus(TRIVIAL)
    )
    wait_until(
        lambda: all(jobs_by_id()[e["id"]]["state"] == "completed" for e in submitted),
        180,
        "all jobs to complete",
    )
    jobs = jobs_by_id()
    assert chroma_count(home) == sum(jobs[e["id"]]["vector_count"] for e in submitted)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(60) == 0, worker.log()


def test_worker_survives_a_poison_job(worker_proc: Any, home: Path) -> None:
    """A job that fails never takes the worker or the next job down."""
    worker = worker_proc()
    submitted = add_json(corpus(BROKEN), corpus(TRIVIAL))
    wait_until(
        lambda: all(jobs_by_id()[e["id"]]["state"] in ("completed", "failed") for e in submitted),
        120,
        "both jobs to finish",
    )
    states = {Path(e["source"]).name: jobs_by_id()[e["id"]]["state"] for e in submitted}
    assert states == {"unreadablemetadata.pdf": "failed", "minimal-document.pdf": "completed"}
    assert worker.poll() is None, "the worker is still running"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.log()
    subprocess.run(["true"], check=True)
