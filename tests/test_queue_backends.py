"""The queue backends side by side: SQLite Huey and Redis Huey in one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Servers

CODE = """
import sys
from pathlib import Path
from ingestq.config import load_settings
from ingestq.queue import open_queue

# A SQLite queue first: huey is imported without its Redis support...
local = open_queue(load_settings({"INGESTQ_HOME": sys.argv[1]}))
print("redis loaded by the SQLite queue:", "redis" in sys.modules)
local.enqueue(["job-local"])
# ...and a Redis queue after it still works, as migrate-home needs.
home, url, name = sys.argv[1:]
remote = open_queue(load_settings(
    {"INGESTQ_HOME": home, "INGESTQ_QUEUE_URL": url, "INGESTQ_QUEUE_NAME": name}
))
remote.enqueue(["job-remote"])
print("pending:", sorted(local.pending_job_ids()), sorted(remote.pending_job_ids()))
"""


def test_a_sqlite_queue_then_a_redis_queue_in_one_process(servers: Servers, tmp_path: Path) -> None:
    import redis

    name = f"{servers.run}_both"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CODE, str(tmp_path / "home"), servers.redis_url, name],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert "redis loaded by the SQLite queue: False" in proc.stdout
        assert "pending: ['job-local'] ['job-remote']" in proc.stdout
    finally:
        client = redis.Redis.from_url(servers.redis_url)
        keys = list(client.scan_iter(f"huey.*.{name}*"))
        if keys:
            client.delete(*keys)
