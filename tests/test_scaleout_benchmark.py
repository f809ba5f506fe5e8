"""The scale-out benchmark's instruments and its model's arithmetic (benchmarks/counting.py,
benchmarks/scaling.py), on the real Chroma server and Redis of the test run."""

from __future__ import annotations

import secrets
import sys
from typing import Any

from conftest import REDIS_URL, ROOT, Servers

sys.path.insert(0, str(ROOT / "benchmarks"))
from counting import ChromaCounter, RedisMonitor, _route
from scaling import model


def test_the_chroma_proxy_passes_requests_through_and_counts_them(servers: Servers) -> None:
    from ingestq.store.chroma import ChromaStore

    proxy = ChromaCounter(servers.chroma_port)
    try:
        store = ChromaStore.server(proxy.url, None, "default_tenant", f"{servers.run}_proxy")
        store.ensure_collection("coll", "m", 3)
        start = proxy.mark()
        store.add("coll", ["a", "b"], [[1.0, 0, 0], [0, 1.0, 0]], ["x", "y"], [{"job_id": "j"}] * 2)
        assert store.count("coll") == 2  # the answer came back through the proxy intact
        counted = proxy.between(start, proxy.mark())
    finally:
        proxy.close()
    adds = [v for k, v in counted.items() if k.startswith("POST") and k.endswith("/{id}/add")]
    assert [a["calls"] for a in adds] == [1]
    assert sum(v["calls"] for v in counted.values()) >= 2  # the add and the count


def test_routes_fold_database_names_and_ids() -> None:
    path = "/api/v2/tenants/t/databases/run_r1/collections/0f0e8a4c-1d2b-4c3d-9e8f-001122334455/add"
    assert _route(path + "?x=1") == "/api/v2/tenants/t/databases/{db}/collections/{id}/add"


def test_the_redis_monitor_counts_only_connections_that_touched_the_queue() -> None:
    import redis

    marker = f"iqt_monitor_{secrets.token_hex(4)}"
    ours, theirs = redis.Redis.from_url(REDIS_URL), redis.Redis.from_url(REDIS_URL)
    monitor = RedisMonitor("127.0.0.1", 6379, marker)
    try:
        start = monitor.mark()
        ours.ping()
        ours.lpush(f"huey.redis.{marker}", "job")
        ours.rpop(f"huey.redis.{marker}")
        theirs.lpush(f"other.{marker[::-1]}", "x")
        theirs.delete(f"other.{marker[::-1]}")
        counted = monitor.commands(start, monitor.mark())
    finally:
        monitor.close()
        ours.close()
        theirs.close()
    assert counted["LPUSH"] == 1 and counted["RPOP"] == 1 and counted["PING"] == 1
    assert "DEL" not in counted


def _cost(jobs: int = 10) -> dict[str, Any]:
    """Counts as scaleout.per_job returns them: 26 chunks a job; 5 transactions a job held
    2 ms each; 20 ms of statements; 8 Redis commands; one Chroma add of 50 ms."""
    pg = {"xact_commit": 0.0, "tup_inserted": 0.0, "tup_updated": 0.0, "tup_deleted": 0.0}
    empty_client = {"transactions": 0, "held_s": 0.0, "statements": 0, "tx_statements": 0}
    add = "POST /api/v2/tenants/t/databases/{db}/collections/{id}/add"
    return {
        "jobs": jobs,
        "chunks": 26 * jobs,
        "add": {"pg": {**pg, "active_time": 0.0}, "redis": {"LPUSH": jobs}, "chroma": {}},
        "empty_burst": {
            "pg": {**pg, "active_time": 0.0},
            "redis": {},
            "chroma": {},
            "client": empty_client,
            "chroma_cpu_s": 0.0,
        },
        "burst": {
            "pg": {**pg, "active_time": 20.0 * jobs},
            "redis": {"BRPOP": 7 * jobs},
            "chroma": {add: {"calls": jobs, "seconds": 9.0, "median_s": 0.05}},
            "chroma_cpu_s": 0.1 * jobs,
            "client": {
                "transactions": 5 * jobs,
                "held_s": 1.0,
                "statements": 40 * jobs,
                "tx_statements": 20 * jobs,
                "median_held_s": 0.002,
                "median_statement_s": 0.0005,
            },
        },
        "probe": {"round_trip_s": 0.0001, "durable_commit_s": 0.001, "async_commit_s": 0.0002},
        "idle": {
            "pg_statements_per_s": 0.0,
            "pg_transactions_per_s": 0.0,
            "redis_per_s": {},
            "chroma_per_s": 0.0,
        },
    }


def test_the_model_divides_each_servers_capacity_by_one_workers_demand() -> None:
    found = model(_cost(), span_s=10.0, stages={"parsing": 1.0, "embedding": 9.0})
    cpu = found["ceilings"]["cpu_2_cores"]
    assert abs(cpu["jobs_per_s"] - 1.0) < 1e-9  # 26 chunks a job at 26 chunks/s
    workers = cpu["workers"]
    assert abs(workers["pg_lock"] - 100) < 1e-6  # 1 / (1 job/s x 5 x 2 ms)
    assert abs(workers["pg_core"] - 50) < 1e-6  # 1000 ms / 20 ms
    assert abs(workers["redis"] - 100_000 / 8) < 1e-6
    assert abs(workers["chroma"] - 20) < 1e-6  # the add at its median, not the observed 0.9 s
    assert cpu["bottleneck"] == "chroma"
    gpu = found["ceilings"]["gpu_20x"]  # only the 90% spent embedding gets faster
    assert abs(gpu["job_s"] - (0.9 / 20 + 0.1)) < 1e-9
    assert abs(gpu["workers"]["chroma"] - 20 * gpu["job_s"]) < 1e-6
