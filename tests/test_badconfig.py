"""Bad server configuration: one clear line, exit 2, no credential shown, no data lost."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TRIVIAL, Servers, corpus, free_port, run_cli, wait_until

SECRET = "s3cret-pw"
ONNX_NOTE = "made an ONNX copy of "
COMMANDS = [("status",), ("add", str(corpus(TRIVIAL))), ("search", "hello"), ("worker", "--burst")]


@pytest.fixture
def schema(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = servers.fresh()
    for key, value in servers.env(name).items():
        monkeypatch.setenv(key, value)
    try:
        yield name
    finally:
        servers.drop(name)


def refused(env: dict[str, str], *args: str) -> str:
    """Run ``ingestq ARGS``; it must refuse in one line with exit 2. The line."""
    proc = run_cli(*args, env=env, timeout=60)
    # The one other line a command may print: the note, on a models
    # directory's first use, that the model's ONNX copy was made.
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith(ONNX_NOTE)]
    assert proc.returncode == 2, (args, proc.returncode, proc.stdout, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("INGESTQ_DATABASE_URL", f"mysql://u:{SECRET}@db/x", "must start with postgresql://"),
        ("INGESTQ_DATABASE_URL", f"postgresql://u:{SECRET}@db:port/x", "not a valid URL"),
        ("INGESTQ_QUEUE_URL", f"http://u:{SECRET}@queue", "must start with redis://"),
        ("INGESTQ_CHROMA_URL", f"ftp://u:{SECRET}@vectors", "must start with http://"),
        ("INGESTQ_CHROMA_URL", "http://", "INGESTQ_CHROMA_URL"),
    ],
)
def test_a_malformed_url_is_a_usage_error(variable: str, value: str, expected: str) -> None:
    for command in COMMANDS:
        assert expected in refused({variable: value}, *command)


def test_unreachable_servers_are_named(schema: str) -> None:
    port = free_port()  # nothing listens there
    dead_pg = f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/test"
    for command in COMMANDS:
        line = refused({"INGESTQ_DATABASE_URL": dead_pg}, *command)
        assert f"postgresql://postgres:***@127.0.0.1:{port}/test" in line
    line = refused({"INGESTQ_CHROMA_URL": f"http://u:{SECRET}@127.0.0.1:{port}"}, "search", "x")
    assert f"127.0.0.1:{port}" in line
    # ``add`` records the job before it enqueues: a dead queue loses nothing,
    # and the first worker that reaches a live queue delivers it.
    dead_queue = f"redis://:{SECRET}@127.0.0.1:{port}/0"
    line = refused({"INGESTQ_QUEUE_URL": dead_queue}, "add", str(corpus(TRIVIAL)))
    assert "job queue" in line
    [kept] = json.loads(run_cli("status", "--json", check=True).stdout)
    assert kept["state"] == "queued"
    assert run_cli("worker", "--burst", timeout=300).returncode == 0
    [done] = json.loads(run_cli("status", "--json", check=True).stdout)
    assert done["state"] == "completed"


def test_wrong_postgres_credentials(servers: Servers) -> None:
    host_part = servers.pg_base.split("@", 1)[1]
    url = f"postgresql://nobody:{SECRET}@{host_part}"
    line = refused({"INGESTQ_DATABASE_URL": url}, "status")
    assert 'role "nobody" does not exist' in line


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")
def test_wrong_redis_password(schema: str, tmp_path: Path) -> None:
    import redis

    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), "--requirepass", "the-right-one"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        good = redis.Redis(port=port, password="the-right-one")
        wait_until(lambda: _answers(good), 20, "redis-server to start")
        url = f"redis://:{SECRET}@127.0.0.1:{port}/0"
        line = refused({"INGESTQ_QUEUE_URL": url}, "add", str(corpus(TRIVIAL)))
        assert f"redis://:***@127.0.0.1:{port}/0" in line
    finally:
        proc.kill()
        proc.wait(10)


def _answers(client: object) -> bool:
    try:
        return bool(client.ping())  # type: ignore[attr-defined]
    except Exception:
        return False


def test_a_database_of_a_newer_schema_is_refused(schema: str, servers: Servers) -> None:
    import psycopg

    run_cli("status", check=True)  # creates the schema
    with psycopg.connect(servers.pg_base, autocommit=True) as conn:
        conn.execute(f"UPDATE {schema}.ingestq_schema SET version = version + 1")
    for command in COMMANDS:
        assert "newer ingestq" in refused({}, *command)
