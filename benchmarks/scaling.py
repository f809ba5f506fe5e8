"""The scaling model of figure 14: how many workers one PostgreSQL, one Redis and one
Chroma server can feed before they, not the model, set the pace.

From scaleout.py's counts: per job (``add`` plus a burst, less an empty burst,
over the jobs of the burst) and per idle worker per second. A worker's pace:
figure 5's 26 chunks/s on 2 CPU cores, whole jobs; with an embedder 20 or 50
times faster (a GPU), only the share of a job spent embedding (measured here,
per stage) shrinks. Each server's ceiling is its capacity over one worker's
demand:

* PostgreSQL's writer lock: write transactions queue on one advisory lock per
  schema (state/postgres.py), so at most one second of lock hold per second;
  a job holds it for its transactions, each at the median hold measured.
* PostgreSQL's CPU: the time its backends spent in statements
  (``pg_stat_database.active_time``), per core of the server.
* Redis: ``REDIS_OPS_PER_S`` simple commands per second on its one thread.
* Chroma: the time the server took to answer (at the counting proxy; each
  route's requests at their median), as if it answered one request at a time:
  a floor for a server that runs some at once.
"""

from __future__ import annotations

from typing import Any

#: Simple list/hash/sorted-set commands one Redis thread answers per second; the
#: redis-benchmark figure is 100-200k on a server CPU, taken low to leave room.
REDIS_OPS_PER_S = 100_000.0
#: Chunks/s of one whole worker on 2 quiet CPU cores (figure 5, docs/benchmarks.md).
CPU_CHUNKS_PER_S = 26.0
#: How much faster the embedding alone runs: on the CPU, and on a GPU 20x and 50x.
SPEEDUPS = {"cpu_2_cores": 1.0, "gpu_20x": 20.0, "gpu_50x": 50.0}
CHROMA_WRITES = ("/add", "/upsert", "/delete", "/update")


def _chroma(chroma: dict[str, dict[str, float]], writes_only: bool = False) -> dict[str, float]:
    """A collection's own requests (not the client's start-up calls, once per worker):
    how many, the seconds they took, and the seconds at each route's median."""
    rows = [
        v
        for k, v in chroma.items()
        if "/collections/{id}/" in k and (not writes_only or k.endswith(CHROMA_WRITES))
    ]
    return {
        "calls": sum(r["calls"] for r in rows),
        "seconds": sum(r["seconds"] for r in rows),
        "typical_s": sum(r["calls"] * r["median_s"] for r in rows),
    }


def per_job(cost: dict[str, Any]) -> dict[str, float]:
    """What one job asks of each server, on average over the burst's jobs.

    Times come twice: as observed (every second, descheduling on a busy machine
    included) and typical (each transaction or request at its median).
    """
    jobs = cost["jobs"]
    burst, empty, add = cost["burst"], cost["empty_burst"], cost["add"]

    def pg(key: str) -> float:
        return (add["pg"][key] + burst["pg"][key] - empty["pg"][key]) / jobs

    def client(key: str) -> float:
        return (burst["client"][key] - empty["client"][key]) / jobs

    redis = sum(add["redis"].values()) + sum(burst["redis"].values())
    chroma, writes = _chroma(burst["chroma"]), _chroma(burst["chroma"], writes_only=True)
    return {
        "chunks": cost["chunks"] / jobs,
        "pg_commits": pg("xact_commit"),
        "pg_rows_written": pg("tup_inserted") + pg("tup_updated") + pg("tup_deleted"),
        "pg_active_ms": pg("active_time"),
        "pg_worker_active_ms": (burst["pg"]["active_time"] - empty["pg"]["active_time"]) / jobs,
        "pg_worker_statements": client("statements"),
        "pg_transactions": client("transactions"),
        "pg_tx_statements": client("tx_statements"),
        "pg_lock_held_s": client("held_s"),
        "pg_lock_typical_s": client("transactions") * burst["client"]["median_held_s"],
        "pg_median_statement_s": burst["client"]["median_statement_s"],
        "redis_commands": (redis - sum(empty["redis"].values())) / jobs,
        "chroma_requests": chroma["calls"] / jobs,
        "chroma_s": chroma["seconds"] / jobs,
        "chroma_typical_s": chroma["typical_s"] / jobs,
        "chroma_writes": writes["calls"] / jobs,
        "chroma_write_typical_s": writes["typical_s"] / jobs,
        "chroma_cpu_s": (burst["chroma_cpu_s"] - empty["chroma_cpu_s"]) / jobs,
    }


def model(cost: dict[str, Any], span_s: float, stages: dict[str, float]) -> dict[str, Any]:
    """Each server's ceiling, in workers, at each worker speed.

    ``span_s`` is the servers burst's span over the same files (figure 12), and
    ``stages`` its seconds per stage: the share spent embedding is what a faster
    embedder shortens; parsing and indexing stay as they are.
    """
    job = per_job(cost)
    idle = cost["idle"]
    idle_redis = sum(idle["redis_per_s"].values())
    ms_per_statement = job["pg_worker_active_ms"] / max(job["pg_worker_statements"], 1)
    lock_per_tx = cost["burst"]["client"]["median_held_s"]
    embed_share = stages.get("embedding", 0.0) / max(sum(stages.values()), 1e-9)
    # Seconds a job takes on a quiet 2-core worker: the whole job at figure 5's pace.
    cpu_job_s = job["chunks"] / CPU_CHUNKS_PER_S
    job_s = {
        "this_run": span_s / cost["jobs"],
        **{
            name: cpu_job_s * (embed_share / speedup + 1 - embed_share)
            for name, speedup in SPEEDUPS.items()
        },
    }
    ceilings = {}
    for name, seconds in job_s.items():
        rate = 1 / seconds  # jobs/s of one worker
        demand = {  # the share of each server one worker takes
            "pg_lock": rate * job["pg_lock_typical_s"]
            + idle["pg_transactions_per_s"] * lock_per_tx,
            "pg_core": (rate * job["pg_active_ms"] + idle["pg_statements_per_s"] * ms_per_statement)
            / 1000,
            "redis": (rate * job["redis_commands"] + idle_redis) / REDIS_OPS_PER_S,
            "chroma": rate * job["chroma_typical_s"],
        }
        workers = {k: 1 / v for k, v in demand.items()}
        ceilings[name] = {
            "job_s": seconds,
            "jobs_per_s": rate,
            "chunks_per_s": rate * job["chunks"],
            "demand": demand,
            "workers": workers,
            "bottleneck": min(workers, key=lambda k: workers[k]),
        }
    return {
        "per_job": job,
        "idle_per_worker_s": {
            "pg_statements": idle["pg_statements_per_s"],
            "pg_transactions": idle["pg_transactions_per_s"],
            "redis_commands": idle_redis,
            "chroma_requests": idle["chroma_per_s"],
        },
        "embed_share": embed_share,
        "ms_per_statement": ms_per_statement,
        "lock_s_per_transaction": lock_per_tx,
        "redis_ops_per_s": REDIS_OPS_PER_S,
        "probe": cost["probe"],
        "ceilings": ceilings,
    }
