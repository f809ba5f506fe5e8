"""Many workers on the servers: shared jobs, one owner per job, and real faults.

Each worker runs with an ``INGESTQ_HOME`` of its own, as it would on its own
host, so nothing local can be shared by accident: whatever they share goes
through PostgreSQL, Redis and the Chroma server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    FOUR_PAGES,
    GEOTOPO,
    TRIVIAL,
    Servers,
    corpus,
    free_port,
    run_cli,
    store_records,
    wait_until,
)

pytestmark = pytest.mark.e2e

#: Fast leases and chores, so a lost worker is noticed in seconds.
FLEET = {
    "INGESTQ_LEASE": "6",
    "INGESTQ_HEARTBEAT": "1",
    "INGESTQ_RECOVERY_INTERVAL": "1",
    "INGESTQ_RETRY_BACKOFF": "0.2",
}


@pytest.fixture
def on_servers_env(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    """This test's schema, queue prefix and Chroma database, in the environment."""
    name = servers.fresh()
    for key, value in servers.env(name).items():
        monkeypatch.setenv(key, value)
    try:
        yield servers
    finally:
        servers.drop(name)


def variants(tmp_path: Path, source: str, count: int, folder: str = "inbox") -> list[Path]:
    """``count`` distinct PDFs: one document with a different trailing comment each."""
    data = corpus(source).read_bytes()
    where = tmp_path / folder
    where.mkdir(exist_ok=True)
    paths = []
    for i in range(count):
        path = where / f"doc-{i:02d}.pdf"
        path.write_bytes(data + f"\n% {folder} variant {i}\n".encode())
        paths.append(path)
    return paths


def statuses() -> list[dict[str, Any]]:
    return json.loads(run_cli("status", "--json", "--limit", "1000", check=True).stdout)  # type: ignore[no-any-return]


def events(job_id: str) -> list[str]:
    [detail] = json.loads(run_cli("status", job_id, "--json", check=True).stdout)
    return [e["event"] for e in detail["events"]]


def all_completed() -> bool:
    time.sleep(1)  # polling is a process of its own; leave the cores to the workers
    return all(row["state"] == "completed" for row in statuses())


def start_workers(worker_proc: Any, tmp_path: Path, count: int, **extra: str) -> list[Any]:
    """``count`` workers, each with a home of its own and a host name of its own
    (``host-0``, ...): to each other they are on different machines, so a dead
    one's job is taken over only when its lease expires."""
    procs = []
    for i in range(count):
        home = tmp_path / f"host-{i}"
        fault = f"import socket\nsocket.gethostname = lambda: 'host-{i}'"
        procs.append(worker_proc(env={**FLEET, "INGESTQ_HOME": str(home), **extra}, fault=fault))
    return procs


def stop(procs: list[Any]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(60)


def assert_each_job_once(rows: list[dict[str, Any]]) -> None:
    """Every job completed exactly once, and the store holds each chunk exactly once."""
    for row in rows:
        assert row["state"] == "completed", row
        assert events(row["id"]).count("completed") == 1, row["id"]
        chunks = store_records({"job_id": row["id"]}, row["collection"])
        indexes = sorted(c["metadata"]["chunk_index"] for c in chunks)
        assert indexes == list(range(row["vector_count"])), row["id"]


def test_three_workers_share_thirty_documents(
    on_servers_env: Servers, worker_proc: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = variants(tmp_path, FOUR_PAGES, 30)
    added = json.loads(run_cli("add", str(files[0].parent), "--json", check=True).stdout)
    assert len(added) == 30
    workers = start_workers(worker_proc, tmp_path, 3)
    wait_until(all_completed, 900, "three workers to finish thirty documents")
    rows = statuses()
    owners = Counter(e for row in rows for e in _claimed_by(row["id"]))
    stop(workers)
    assert_each_job_once(rows)
    # The work was shared: more than one worker claimed jobs.
    assert len(owners) >= 2, owners
    assert {o.split(":")[0] for o in owners} <= {"host-0", "host-1", "host-2"}

    # The same documents through one embedded worker give the same vectors.
    for key in list(os.environ):
        if key.startswith(("INGESTQ_DATABASE", "INGESTQ_QUEUE", "INGESTQ_CHROMA")):
            monkeypatch.delenv(key)
    run_cli("add", str(files[0].parent), check=True)
    assert run_cli("worker", "--burst", env=FLEET, timeout=900).returncode == 0
    single = statuses()
    assert sorted(r["vector_count"] for r in single) == sorted(r["vector_count"] for r in rows)
    assert sum(r["vector_count"] for r in single) == len(store_records())


def _claimed_by(job_id: str) -> list[str]:
    [detail] = json.loads(run_cli("status", job_id, "--json", check=True).stdout)
    return [
        e["message"].split()[-1]
        for e in detail["events"]
        if e["event"] == "claimed" and e.get("message")
    ]


def test_sigkill_one_of_three_workers_and_another_takes_the_job_over(
    on_servers_env: Servers, worker_proc: Any, tmp_path: Path
) -> None:
    variants(tmp_path, GEOTOPO, 3)
    run_cli("add", str(tmp_path / "inbox"), check=True)
    workers = start_workers(worker_proc, tmp_path, 3)
    by_pid = {w.pid: w for w in workers}
    victim: dict[str, Any] = {}

    def someone_is_running() -> bool:
        for row in statuses():
            owner = row.get("lease_owner") or ""
            if row["state"] == "processing" and int(owner.rsplit(":", 1)[-1] or 0) in by_pid:
                victim.update(row)
                return True
        return False

    wait_until(someone_is_running, 300, "a worker to start a job")
    host, pid = victim["lease_owner"].rsplit(":", 1)
    assert host.startswith("host-")
    os.killpg(int(pid), signal.SIGKILL)
    killed_at = time.monotonic()
    by_pid[int(pid)].wait(10)
    wait_until(all_completed, 600, "the other workers to finish, the lost job included")
    rows = statuses()
    stop([w for w in workers if w.poll() is None])
    assert_each_job_once(rows)
    [detail] = json.loads(run_cli("status", victim["id"], "--json", check=True).stdout)
    recovered = [e for e in detail["events"] if e["event"] == "recovered"]
    assert len(recovered) == 1, detail["events"]
    assert f"lease of {victim['lease_owner']} lost" in recovered[0]["message"]
    # Taken over only once the lease ran out: another host cannot know sooner.
    assert time.monotonic() - killed_at >= float(FLEET["INGESTQ_LEASE"])
    rescuer = recovered[0]["message"].rsplit("recovered by ", 1)[1]
    assert rescuer != victim["lease_owner"]
    assert int(rescuer.rsplit(":", 1)[1]) in by_pid


class OwnRedis:
    """A Redis server of the test's own, which it may kill and restart empty."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), 20, "redis-server to start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")
def test_redis_restarting_empty_loses_no_job(
    on_servers_env: Servers,
    worker_proc: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = OwnRedis(tmp_path)
    own.start()
    try:
        monkeypatch.setenv("INGESTQ_QUEUE_URL", own.url)
        variants(tmp_path, FOUR_PAGES, 6)
        run_cli("add", str(tmp_path / "inbox"), check=True)
        # Held in Huey's schedule, a sorted set in Redis, when Redis dies.
        variants(tmp_path, FOUR_PAGES, 6, "later")
        run_cli("add", str(tmp_path / "later"), "--delay", "20s", check=True)
        workers = start_workers(worker_proc, tmp_path, 2)
        wait_until(lambda: any(r["state"] == "completed" for r in statuses()), 300, "a first job")
        # Redis dies and comes back with nothing: every message still queued is gone.
        own.kill()
        time.sleep(2)
        own.start()
        wait_until(all_completed, 600, "recovery to re-enqueue what Redis lost")
        rows = statuses()
        assert len(rows) == 12
        stop(workers)
        assert_each_job_once(rows)
        logs = "".join(proc.log() for proc in workers)
        assert "missing from the queue" in logs
        assert "Traceback" not in logs
    finally:
        own.kill()


def test_dropped_postgres_connections_are_reconnected(
    on_servers_env: Servers, worker_proc: Any, tmp_path: Path
) -> None:
    import psycopg

    variants(tmp_path, FOUR_PAGES, 12)
    run_cli("add", str(tmp_path / "inbox"), check=True)
    workers = start_workers(worker_proc, tmp_path, 2)
    wait_until(lambda: any(r["state"] == "completed" for r in statuses()), 300, "a first job")
    database = on_servers_env.pg_base.rsplit("/", 1)[1]
    for _ in range(3):
        with psycopg.connect(on_servers_env.pg_base, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert killed is not None and killed[0] > 0
        time.sleep(2)
    # Work that arrives after the connections were cut is done too.
    variants(tmp_path, FOUR_PAGES, 4, "after")
    run_cli("add", str(tmp_path / "after"), check=True)
    wait_until(all_completed, 600, "the workers to reconnect and finish")
    rows = statuses()
    assert len(rows) == 16
    assert all(w.poll() is None for w in workers), [w.log()[-2000:] for w in workers]
    stop(workers)
    assert_each_job_once(rows)


def test_three_workers_send_each_callback_once(
    on_servers_env: Servers, worker_proc: Any, tmp_path: Path
) -> None:
    from test_callbacks import Receiver

    receiver = Receiver(failures=3)  # the first three deliveries fail: retries race too
    try:
        variants(tmp_path, TRIVIAL, 9)
        env = {"INGESTQ_ALLOW_PRIVATE_NETWORKS": "1", "INGESTQ_SIGNING_KEY": "k"}
        added = json.loads(
            run_cli(
                "add", str(tmp_path / "inbox"), "--callback", receiver.url, "--json",
                env=env, check=True,
            ).stdout
        )  # fmt: skip
        workers = start_workers(worker_proc, tmp_path, 3, **env)
        wait_until(lambda: len(receiver.received) >= 9, 600, "nine callbacks")
        time.sleep(5)  # long enough for a second copy of any callback to arrive
        stop(workers)
        delivered = Counter(body["id"] for body in receiver.bodies())
        assert delivered == Counter(job["id"] for job in added)
    finally:
        receiver.server.shutdown()


def test_a_worker_that_would_split_the_store_refuses_to_start(
    on_servers_env: Servers, worker_proc: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = start_workers(worker_proc, tmp_path, 1)[0]
    wait_until(lambda: "ready:" in first.log(), 300, "the first worker to start")
    # A second host on the same state, but with a queue of its own: its jobs
    # would never reach the other worker, and the other's never reach it.
    monkeypatch.delenv("INGESTQ_QUEUE_URL")
    proc = run_cli("worker", "--burst", env={**FLEET, "INGESTQ_HOME": str(tmp_path / "other")})
    stop([first])
    assert proc.returncode == 2, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "the state is shared with worker" in line
    assert "INGESTQ_QUEUE_URL" in line
