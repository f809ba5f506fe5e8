"""``ingestq doctor``: one row per backend, on the embedded default and on servers.

Real backends throughout: the home's SQLite files and Chroma, the session's
PostgreSQL, Redis and Chroma server, a real worker process; the unreachable
servers are a closed port on this machine.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from conftest import FOUR_PAGES, Servers, corpus, iq, run_burst, wait_until

CHECKS = ["state", "queue", "vectors", "blobs", "model", "device", "workers"]
KEYS = {"name", "status", "ok", "where", "summary", "latency_ms", "details"}


def doctor_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    ran = iq("doctor", "--json", *args, env=env)
    assert "Traceback" not in ran.stderr
    return ran.returncode, json.loads(ran.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def test_a_new_embedded_home_is_fine_and_left_unmade(home: Path) -> None:
    code, report = doctor_json()
    assert code == 0 and report["ok"] is True
    assert [c["name"] for c in report["checks"]] == CHECKS
    assert all(set(c) == KEYS and c["status"] == "ok" for c in report["checks"]), report
    assert by_name(report)["state"]["details"]["schema"] == 0
    assert not home.exists()  # a health check creates nothing
    human = iq("doctor")
    assert human.returncode == 0 and "all checks passed" in human.stdout
    assert [line.split()[1] for line in human.stdout.splitlines()[:7]] == CHECKS


def test_an_embedded_home_in_use(embedder: Any, home: Path) -> None:
    from ingestq.state.migrations import MIGRATIONS

    iq("add", str(corpus(FOUR_PAGES)), check=True)
    run_burst(embedder)
    code, report = doctor_json()
    checks = by_name(report)
    assert code == 0, report
    assert checks["state"]["details"]["schema"] == len(MIGRATIONS)
    assert checks["state"]["where"] == str(home / "state.db")
    assert checks["queue"]["details"]["pending"] == 0
    [collection] = checks["vectors"]["details"]["collections"]
    assert collection["name"] == "default" and collection["chunks"] > 0
    assert collection["model_matches"] is True
    assert checks["blobs"]["details"]["count"] == 1


def test_a_collection_built_with_another_model_fails(
    embedder: Any, home: Path, tmp_path: Path
) -> None:
    from ingestq.embed.local import model_path

    iq("add", str(corpus(FOUR_PAGES)), check=True)
    run_burst(embedder)
    other = tmp_path / "another-model"  # the same files under another name
    other.symlink_to(model_path("all-MiniLM-L6-v2"))
    code, report = doctor_json(env={"INGESTQ_MODEL": str(other)})
    checks = by_name(report)
    assert code == 1 and report["ok"] is False
    assert checks["vectors"]["status"] == "fail"
    assert "built with 'all-MiniLM-L6-v2'" in checks["vectors"]["summary"]
    assert checks["model"]["status"] == "ok" and checks["state"]["status"] == "ok"


def test_on_servers_with_a_worker_running(servers: Servers, worker_proc: Any) -> None:
    env = servers.env(servers.fresh())
    worker = worker_proc(env=env)
    owner = f"{socket.gethostname()}:{worker.pid}"

    def listed() -> bool:
        _, report = doctor_json(env=env)
        return owner in by_name(report)["workers"]["summary"]

    wait_until(listed, 120, "the worker to be listed")
    code, report = doctor_json(env=env)
    checks = by_name(report)
    assert code == 0, report
    assert checks["state"]["summary"].startswith("PostgreSQL")
    assert checks["queue"]["summary"].startswith("Redis")
    assert checks["vectors"]["summary"].startswith("Chroma")
    assert checks["vectors"]["where"] == servers.chroma_url
    assert checks["blobs"]["where"].endswith("(table blobs)"), "kept in PostgreSQL"
    assert checks["blobs"]["details"]["count"] == 0
    [seen] = checks["workers"]["details"]["workers"]
    assert seen["owner"] == owner and seen["pid"] == worker.pid


def test_an_unreachable_queue_fails_its_row_alone(servers: Servers, cli: Any) -> None:
    env = servers.env(servers.fresh()) | {"INGESTQ_QUEUE_URL": "redis://:secret@127.0.0.1:1/0"}
    proc = cli("doctor", env=env, timeout=60)
    assert proc.returncode == 1
    assert "secret" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    failed = [line for line in proc.stdout.splitlines() if line.startswith("fail")]
    assert len(failed) == 1 and failed[0].split()[1] == "queue"
    assert "redis://:***@127.0.0.1:1/0" in failed[0] and "refused" in failed[0]
    assert proc.stdout.splitlines()[-1] == "1 check(s) failed: queue"


def test_unreachable_servers_fail_in_one_line_each_without_their_passwords(cli: Any) -> None:
    env = {
        "INGESTQ_DATABASE_URL": "postgresql://user:secret@127.0.0.1:1/db",
        "INGESTQ_QUEUE_URL": "redis://user:secret@127.0.0.1:1/0",
        "INGESTQ_CHROMA_URL": "http://user:secret@127.0.0.1:1",
    }
    proc = cli("doctor", env=env, timeout=60)
    assert proc.returncode == 1
    assert "secret" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()[:7]}
    for name in ("state", "queue", "vectors"):
        assert lines[name].startswith("fail") and "user:***@127.0.0.1:1" in lines[name]
    assert lines["workers"].startswith("skip")  # the workers are listed by the state
    assert lines["blobs"].startswith("skip")  # and the blobs are kept in it
    as_json = cli("doctor", "--json", env=env, timeout=60)
    assert as_json.returncode == 1 and "secret" not in as_json.stdout
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert [c["status"] for c in report["checks"]] == [
        "fail",
        "fail",
        "fail",
        "skip",
        "ok",
        "ok",
        "skip",
    ]
