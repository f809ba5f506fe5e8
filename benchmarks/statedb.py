"""``status``, ``stats``, ``watch`` and ``collections`` on a big state database.

The database is filled through the state layer (``create_jobs``), then its rows
are made to look lived in: 30 days of jobs in every state, ten events each
(claimed, stages, the end with its timings), and the documents of the completed
ones. Each command is timed as a real process, imports included, median of
several runs; ``watch`` until it prints its first line. With ``database_url``
the state lives on PostgreSQL instead (a schema of its own, dropped after).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import IQ, fresh_env, settings_for, wall

STAGES = ("fetching", "parsing", "embedding", "indexing", "embedding", "indexing", "indexing")
END = {0: "failed", 1: "cancelled", 2: "queued"}  # by n % 20; the rest completed


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fill(env: dict[str, str], jobs_n: int, events_per_job: int = 10) -> None:
    """Write ``jobs_n`` jobs and ``events_per_job`` events each through the state layer."""
    from ingestq.state import open_state
    from ingestq.state.jobs import NewJob
    from ingestq.state.lifecycle import create_jobs

    db = open_state(settings_for(env))
    specs = [
        NewJob("pdf", f"/data/inbox/report-{n:06}.pdf", "default", f"{n:064x}")
        for n in range(jobs_n)
    ]
    ids: list[str] = []
    for start in range(0, jobs_n, 10_000):
        ids += [j.id for j in create_jobs(db, specs[start : start + 10_000])]
    start_at = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / jobs_n
    rows, events, sources = [], [], []
    for n, job_id in enumerate(ids):
        at = start_at + step * n
        state = END.get(n % 20, "completed")
        done = _stamp(at + timedelta(seconds=20))
        rows.append((state, _stamp(at), done, done if state == "completed" else None, job_id))
        if state == "queued":
            continue
        events.append((job_id, _stamp(at), "claimed", "worker-1", None))
        for i, stage in enumerate(STAGES[: events_per_job - 3]):
            events.append((job_id, _stamp(at + timedelta(seconds=i)), "stage", stage, None))
        timings = json.dumps({"timings": {"parsing": 1.5, "embedding": 12.0, "indexing": 2.0}})
        end = {"completed": "completed", "failed": "failed", "cancelled": "cancelled"}[state]
        events.append((job_id, done, end, "40 chunks", timings if end == "completed" else None))
        if state == "completed":
            sources.append(("default", "pdf", specs[n].source, specs[n].content_hash, job_id))
    with db.transaction():
        db.executemany(
            "UPDATE jobs SET state = ?, started_at = ?, updated_at = ?, completed_at = ?,"
            " vector_count = 40, pages = 12, error = CASE WHEN state = 'failed'"
            " THEN 'not a PDF' END WHERE id = ?",
            rows,
        )
        db.executemany(
            "INSERT INTO events (job_id, at, event, message, data) VALUES (?,?,?,?,?)", events
        )
        db.executemany(
            "INSERT INTO sources (collection, kind, key, content_hash, job_id) VALUES (?,?,?,?,?)",
            sources,
        )
    db.close()


def first_line(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds until ``cmd`` prints its first line (then it is stopped)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.terminate()
    proc.wait()
    return elapsed


COMMANDS = {
    "status": ["status"],
    "status_failed_24h": ["status", "--state", "failed", "--since", "24h"],
    "stats": ["stats"],
    "stats_all": ["stats", "--since", "all"],
    "collections": ["collections"],
    "watch_first_line": ["watch", "--json"],
}


def bench_statedb(runs: int, jobs_n: int = 100_000, database_url: str = "") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="iq-statedb-") as tmp:
        env = fresh_env(Path(tmp) / "home")
        schema = ""
        if database_url:
            schema = f"iqbench_{os.getpid()}"
            _schema(database_url, f"CREATE SCHEMA {schema}")
            env["INGESTQ_DATABASE_URL"] = _with_schema(database_url, schema)
        try:
            start = time.perf_counter()
            fill(env, jobs_n)
            fill_s = time.perf_counter() - start
            times = {}
            for name, args in COMMANDS.items():
                timer = first_line if name.startswith("watch") else wall
                times[name] = statistics.median(timer([IQ, *args], env) for _ in range(runs))
            base = statistics.median(
                wall([sys.executable, "-c", "import typer"], env) for _ in range(runs)
            )
        finally:
            if schema:
                _schema(database_url, f"DROP SCHEMA {schema} CASCADE")
    return {
        "jobs": jobs_n,
        "events": jobs_n * 10 - jobs_n // 20 * 9,
        "database": "postgresql" if database_url else "sqlite",
        "fill_s": fill_s,
        **{f"{k}_s": v for k, v in times.items()},
        "import_typer_s": base,
        "goal_s": 0.5,
        "runs": runs,
    }


def _with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def _schema(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.encode())


def bench_statedb_both(runs: int, jobs_n: int) -> dict[str, Any]:
    """The figures on SQLite, and on PostgreSQL if one answers (``INGESTQ_TEST_PG``)."""
    out = {"sqlite": bench_statedb(runs, jobs_n)}
    url = os.environ.get("INGESTQ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        _schema(url, "SELECT 1")
    except Exception as exc:  # no server: the SQLite figures stand alone
        out["postgresql"] = {"skipped": f"no PostgreSQL at {url}: {exc}"}
        return out
    out["postgresql"] = bench_statedb(runs, jobs_n, url)
    return out


def rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for name, d in r.items():
        if "skipped" in d:
            out.append((f"19 state database, {name}", "-", d["skipped"]))
            continue
        slowest = max(d[f"{k}_s"] for k in COMMANDS)
        detail = ", ".join(f"{k} {d[f'{k}_s'] * 1000:.0f}" for k in COMMANDS)
        out.append(
            (
                f"19 {d['jobs']:,} jobs, {d['events']:,} events, {name}",
                f"{slowest * 1000:.0f} ms",
                f"slowest of: {detail} ms; import typer {d['import_typer_s'] * 1000:.0f} ms"
                f" (goal <= {d['goal_s'] * 1000:.0f} ms each)",
            )
        )
    return out
