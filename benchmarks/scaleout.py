"""Figures 12 to 14: ingestq on servers (PostgreSQL, Redis, a Chroma server).

12. The shared corpus through one ``ingestq worker`` with the state, queue and
    vectors on servers, against the same on the embedded default (SQLite, Huey
    on SQLite, embedded Chroma). The workers start first and load their model;
    once they sit idle the files are added. Timed, as figure 5, from the first
    job's ``started_at`` to the last job's end, so process start and model load
    are outside (the wall time from ``add`` to the last job's end is reported
    beside it). Goal: overhead <= 10%.
13. Two ``ingestq worker`` processes against one, both on servers, same corpus.
    On 2 cores no speed-up is expected: the figure shows it is not slower.
14. What one job asks of each server: ``add`` and a ``worker --burst`` over the
    same files on servers, counted (see counting.py), less an empty burst (a
    worker's start and stop); what an idle worker asks per second; and from
    those the scaling model of docs/servers.md (scaling.py).

The four variants of 12 and 13 (the last: two workers splitting the cores with
INGESTQ_EMBED_THREADS) alternate within each repetition, in a rotating
order, so machine noise falls on all of them alike. Everything runs in this
run's own corner of the servers: a fresh PostgreSQL database (dropped at the
end), a queue name of its own on Redis (its keys deleted at the end) and a
Chroma server started here on a free port.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from common import IQ, corpus_pdfs, fresh_env, iq_json, stop, when
from counting import (
    PRELUDE,
    ChromaCounter,
    RedisMonitor,
    delta,
    monitoring,
    pg_stats,
    prelude_stats,
)

PG_ADMIN_URL = os.environ.get("INGESTQ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("INGESTQ_TEST_REDIS", "redis://127.0.0.1:6379/0")
VARIANTS = ("embedded", "servers", "servers_x2", "servers_x2_split")
GOAL_OVERHEAD = 0.10
T = TypeVar("T")
STAGES = ("parsing", "embedding", "indexing")
TICKS = os.sysconf("SC_CLK_TCK")
DONE = re.compile(r"job \S+ (?:completed:|failed after)")


class Servers:
    """This run's database, Redis queue names and Chroma server, and how to clean them up."""

    def __init__(self, tmp: Path) -> None:
        import psycopg

        self.tmp = tmp
        self.run = f"iqb_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.run}")
        self.pg_base = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.run}"
        self.count = 0
        self.chroma_port = _free_port()
        self.chroma_url = f"http://127.0.0.1:{self.chroma_port}"
        self.chroma: subprocess.Popen[bytes] | None = None
        self._start_chroma()

    def _start_chroma(self) -> None:
        import httpx

        chroma = str(Path(sys.executable).parent / "chroma")
        args = ["run", "--path", str(self.tmp / "chroma-data"), "--port", str(self.chroma_port)]
        with (self.tmp / "chroma.log").open("ab") as log:
            self.chroma = subprocess.Popen(
                [chroma, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.chroma_url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the Chroma server did not start")

    def corner(self, chroma_url: str | None = None) -> dict[str, str]:
        """The INGESTQ_* variables of a fresh schema, queue name and Chroma database."""
        import httpx
        import psycopg

        self.count += 1
        name = f"r{self.count}"
        with psycopg.connect(self.pg_base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        # Made here, before the workers start, so no variant's timing includes it
        # (workers racing to create it is handled by ChromaStore.server now).
        httpx.post(
            f"{self.chroma_url}/api/v2/tenants/default_tenant/databases",
            json={"name": f"{self.run}_{name}"},
            timeout=30,
        ).raise_for_status()
        return {
            "INGESTQ_DATABASE_URL": f"{self.pg_base}?options=-csearch_path%3D{name}",
            "INGESTQ_QUEUE_URL": REDIS_URL,
            "INGESTQ_QUEUE_NAME": f"{self.run}_{name}",
            "INGESTQ_CHROMA_URL": chroma_url or self.chroma_url,
            "INGESTQ_CHROMA_DATABASE": f"{self.run}_{name}",
        }

    def close(self) -> None:
        import psycopg
        import redis

        if self.chroma is not None and self.chroma.poll() is None:
            stop(self.chroma, 15)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.run} WITH (FORCE)")
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"huey.*.{self.run}_*"))
        if keys:
            client.delete(*keys)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    home = Path(tempfile.mkdtemp(dir=tmp)) / "home"
    return {
        **fresh_env(home),
        "INGESTQ_MODELS_DIR": str(tmp / "models"),  # the ONNX export, made once for every home
        "ANONYMIZED_TELEMETRY": "False",
        **(extra or {}),
    }


def _add(env: dict[str, str], files: list[Path]) -> int:
    """Submit the files; how many jobs that queued."""
    return sum(1 for j in iq_json(env, "add", *map(str, files)) if j["state"] == "queued")


def start_workers(env: dict[str, str], count: int, *prelude: str) -> list[subprocess.Popen[str]]:
    """``count`` long-running ``ingestq worker`` processes, logging to files in the home's dir."""
    procs = []
    for i in range(count):
        log_path = Path(env["INGESTQ_HOME"]).parent / f"worker-{i}.log"
        command = [sys.executable, "-c", *prelude] if prelude else [IQ]
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [*command, "worker"], env=env, stdout=log, stderr=log, text=True
            )
        proc.log_path = log_path  # type: ignore[attr-defined]
        procs.append(proc)
    return procs


def _log(proc: subprocess.Popen[str]) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_loaded(procs: list[subprocess.Popen[str]], timeout: float = 300) -> None:
    """Until every worker said "ready:" and then used next to no CPU for two seconds:
    its model is loaded and it waits for jobs."""
    deadline = time.monotonic() + timeout
    quiet = 0
    before = [_cpu_ticks(p.pid) for p in procs]
    while quiet < 2:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError("a worker did not get ready:\n" + "".join(map(_log, procs))[-3000:])
        time.sleep(1)
        after = [_cpu_ticks(p.pid) for p in procs]
        idle = all(b - a <= 5 for a, b in zip(before, after, strict=True))  # <= 5% of a CPU
        ready = all("ready:" in _log(p) for p in procs)
        quiet, before = (quiet + 1 if idle and ready else 0), after


def wait_done(procs: list[subprocess.Popen[str]], jobs: int, timeout: float = 900) -> None:
    """Until the workers' logs say ``jobs`` jobs ended (completed, or failed for good)."""
    deadline = time.monotonic() + timeout
    while sum(len(DONE.findall(_log(p))) for p in procs) < jobs:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError("the jobs did not end:\n" + "".join(map(_log, procs))[-3000:])
        time.sleep(0.2)


def stop_workers(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def drain(env: dict[str, str], files: list[Path], workers: int = 1) -> dict[str, Any]:
    """``workers`` running workers, loaded and idle; then ``add`` the files and wait
    until every job ended. The wall time runs from the ``add`` to the last job's end."""
    procs = start_workers(env, workers)
    try:
        wait_loaded(procs)
        start = time.perf_counter()
        wait_done(procs, _add(env, files))
        wall_s = time.perf_counter() - start
    finally:
        stop_workers(procs)
    return {"wall_s": wall_s, **outcome(env)}


def outcome(env: dict[str, str]) -> dict[str, Any]:
    """The jobs as the state has them: first start to last end, pages, chunks."""
    jobs = iq_json(env, "status", "--limit", "10000")
    ran = [j for j in jobs if j["started_at"]]
    done = [j for j in jobs if j["state"] == "completed"]
    span = max(when(j["completed_at"] or j["updated_at"]) for j in ran) - min(
        when(j["started_at"]) for j in ran
    )
    return {
        "span_s": span.total_seconds(),
        "jobs": len(jobs),
        "completed": len(done),
        "failed": sum(1 for j in jobs if j["state"] == "failed"),
        "pages": sum(j["pages"] or 0 for j in done),
        "chunks": sum(j["vector_count"] for j in done),
        "stages_s": stage_totals(env),
    }


def stage_totals(env: dict[str, str]) -> dict[str, float]:
    """Seconds the completed jobs spent per stage (parse, embed, index...), summed."""
    from ingestq.config import load_settings
    from ingestq.state import metrics, open_state

    db = open_state(load_settings(env))
    try:
        return {k: sum(v) for k, v in metrics.stage_seconds(db, "").items()}
    finally:
        db.close()


def timings(servers: Servers, tmp: Path, files: list[Path], runs: int) -> Any:
    """Figures 12 and 13: each variant's bursts, alternating in a rotating order."""
    found: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for run in range(runs):
        turn = run % len(VARIANTS)
        order = VARIANTS[turn:] + VARIANTS[:turn]
        for variant in order:
            print(f"  scaleout: run {run + 1}/{runs}, {variant}", file=sys.stderr, flush=True)
            if variant == "embedded":
                found[variant].append(drain(_env(tmp), files))
                continue
            env = _env(tmp, servers.corner())
            if variant == "servers_x2_split":
                # Two workers that split the cores instead of each taking them all.
                cores = max(1, (os.cpu_count() or 2) // 2)
                env["INGESTQ_EMBED_THREADS"] = str(cores)
            found[variant].append(drain(env, files, 1 if variant == "servers" else 2))
    for variant, results in found.items():
        counts = {(r["completed"], r["chunks"]) for r in results}
        if len(counts) != 1:
            raise RuntimeError(f"{variant}: the runs indexed different things: {counts}")
    return found


class Meter:
    """What each step asks of PostgreSQL, Redis and Chroma, step by step."""

    def __init__(self, servers: Servers, monitor: RedisMonitor, proxy: ChromaCounter) -> None:
        self.database, self.monitor, self.proxy = servers.run, monitor, proxy
        assert servers.chroma is not None
        self.chroma_pid = servers.chroma.pid  # `chroma run` serves in its own process
        self.steps: dict[str, tuple[dict[str, float], int, int, Any, float]] = {}

    def _sample(self) -> tuple[dict[str, float], int, int, float]:
        return (
            pg_stats(PG_ADMIN_URL, self.database),
            self.monitor.mark(),
            self.proxy.mark(),
            _cpu_ticks(self.chroma_pid) / TICKS,
        )

    def measure(self, name: str, step: Callable[[], T]) -> T:
        pg0, r0, c0, cpu0 = self._sample()
        result = step()
        pg1, r1, c1, cpu1 = self._sample()
        self.steps[name] = (delta(pg1, pg0), r0, r1, self.proxy.between(c0, c1), cpu1 - cpu0)
        return result

    def report(self) -> dict[str, Any]:
        return {
            name: {
                "pg": pg,
                "redis": dict(self.monitor.commands(r0, r1)),
                "chroma": chroma,
                "chroma_cpu_s": cpu,
            }
            for name, (pg, r0, r1, chroma, cpu) in self.steps.items()
        }


def _measured_burst(env: dict[str, str]) -> dict[str, float]:
    """``worker --burst`` with the state layer timed and counted (counting.PRELUDE)."""
    worker = subprocess.run(
        [sys.executable, "-c", PRELUDE, "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if worker.returncode:
        raise RuntimeError(f"the measured worker failed:\n{worker.stderr[-3000:]}")
    return prelude_stats(worker.stderr)[-1][1]


def per_job(servers: Servers, tmp: Path, files: list[Path], idle_s: float) -> dict[str, Any]:
    """Figure 14: what a worker's start, ``add`` and one burst over the files ask of each
    server, and what an idle worker asks per second."""
    proxy = ChromaCounter(servers.chroma_port)
    env = _env(tmp, servers.corner(proxy.url))
    iq_json(env, "status")  # first use: the schema's migrations, not counted
    redis_at = urlsplit(REDIS_URL)
    try:
        with monitoring(redis_at.hostname or "127.0.0.1", redis_at.port or 6379,
                        env["INGESTQ_QUEUE_NAME"]) as monitor:  # fmt: skip
            meter = Meter(servers, monitor, proxy)
            empty = meter.measure("empty_burst", lambda: _measured_burst(env))
            meter.measure("add", lambda: _add(env, files))
            busy = meter.measure("burst", lambda: _measured_burst(env))
            idle = idle_rates(env, proxy, monitor, idle_s)
            steps = meter.report()
    finally:
        proxy.close()
    steps["empty_burst"]["client"], steps["burst"]["client"] = empty, busy
    probe = probe_commits(servers.pg_base)
    return {**outcome(env), **steps, "idle": idle, "probe": probe}


def probe_commits(pg_base: str, count: int = 200) -> dict[str, float]:
    """Median seconds of a round trip (``SELECT 1``) and of a one-row write transaction,
    durable (``synchronous_commit`` on, the default: it waits for the WAL's fsync) and not."""
    import psycopg

    def median_of(conn: Any, work: Callable[[int], None]) -> float:
        times = []
        for i in range(count):
            start = time.perf_counter()
            work(i)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    with psycopg.connect(pg_base, autocommit=True) as conn:
        conn.execute("CREATE TABLE commit_probe (n INTEGER)")

        def write(i: int) -> None:
            with conn.transaction():
                conn.execute("INSERT INTO commit_probe VALUES (%s)", (i,))

        found = {"round_trip_s": median_of(conn, lambda i: conn.execute("SELECT 1").fetchone())}
        found["durable_commit_s"] = median_of(conn, write)
        conn.execute("SET synchronous_commit = off")
        found["async_commit_s"] = median_of(conn, write)
        conn.execute("DROP TABLE commit_probe")
    return found


def idle_rates(
    env: dict[str, str], proxy: ChromaCounter, monitor: RedisMonitor, seconds: float
) -> dict[str, Any]:
    """What a long-running worker, loaded and with nothing to do, asks per second."""
    [proc] = start_workers(env, 1, PRELUDE)
    try:
        wait_loaded([proc])
        r0, c0, t0 = monitor.mark(), proxy.mark(), time.time()
        time.sleep(seconds)
        r1, c1, t1 = monitor.mark(), proxy.mark(), time.time()
    finally:
        stop_workers([proc])
    snaps = prelude_stats(_log(proc))
    first = min((s for s in snaps if s[0] >= t0), key=lambda s: s[0])
    last = max((s for s in snaps if s[0] <= t1), key=lambda s: s[0])
    span = last[0] - first[0]
    return {
        "seconds": t1 - t0,
        "pg_statements_per_s": (last[1]["statements"] - first[1]["statements"]) / span,
        "pg_transactions_per_s": (last[1]["transactions"] - first[1]["transactions"]) / span,
        "redis_per_s": {k: v / (t1 - t0) for k, v in monitor.commands(r0, r1).items()},
        "chroma_per_s": (c1 - c0) / (t1 - t0),
    }


def stage_overhead(stages: dict[str, dict[str, float]]) -> float:
    """The servers' cost from the jobs' own stage timings: the extra seconds the jobs spent
    outside embedding (parsing, indexing: where the servers are called), over the embedded
    jobs' whole time. Embedding touches no server; on a busy machine its noise swamps
    the span's ratio, while this one stays put."""
    embedded, servers = stages["embedded"], stages["servers"]
    extra = sum(v for k, v in servers.items() if k != "embedding") - sum(
        v for k, v in embedded.items() if k != "embedding"
    )
    return extra / sum(embedded.values())


def bench_scaleout(runs: int, files: list[Path] | None = None, idle_s: float = 30.0) -> Any:
    """Figures 12 to 14, on this run's own corner of the servers, cleaned up after."""
    from scaling import model

    files = files or corpus_pdfs()
    tmp = Path(tempfile.mkdtemp(prefix="iq-scaleout-"))
    servers = Servers(tmp)
    try:
        found = timings(servers, tmp, files, runs)
        cost = per_job(servers, tmp, files, idle_s)
    finally:
        servers.close()
        shutil.rmtree(tmp, ignore_errors=True)
    span = {v: statistics.median(r["span_s"] for r in found[v]) for v in VARIANTS}
    wall = {v: statistics.median(r["wall_s"] for r in found[v]) for v in VARIANTS}
    stages = {
        v: {k: statistics.median(r["stages_s"].get(k, 0.0) for r in found[v]) for k in STAGES}
        for v in VARIANTS
    }
    first = found["servers"][0]
    return {
        "files": len(files),
        "jobs": first["jobs"],
        "completed": first["completed"],
        "chunks": first["chunks"],
        "pages": first["pages"],
        "runs": runs,
        "cpus": os.cpu_count(),
        "span_s": span,
        "wall_s": wall,
        "all_span_s": {v: [r["span_s"] for r in found[v]] for v in VARIANTS},
        "stages_s": stages,
        "overhead": span["servers"] / span["embedded"] - 1,
        "stage_overhead": stage_overhead(stages),
        "wall_overhead": wall["servers"] / wall["embedded"] - 1,
        "goal_overhead": GOAL_OVERHEAD,
        "two_workers_speedup": span["servers"] / span["servers_x2"],
        "two_workers_wall_speedup": wall["servers"] / wall["servers_x2"],
        "two_split_workers_speedup": span["servers"] / span["servers_x2_split"],
        "cost": cost,
        "model": model(cost, span["servers"], stages["servers"]),
    }
