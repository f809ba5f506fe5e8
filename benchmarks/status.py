"""Figure 2: ``ingestq status`` with 10,000 jobs in the state database."""

from __future__ import annotations

import hashlib
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import IQ, fresh_env, wall


def fill(home: Path, count: int) -> None:
    """Write ``count`` jobs through the real API, then spread them over the states."""
    import os

    os.environ["INGESTQ_HOME"] = str(home)
    from ingestq.config import load_settings
    from ingestq.state import open_state
    from ingestq.state.jobs import NewJob
    from ingestq.state.lifecycle import create_jobs

    db = open_state(load_settings())
    specs = [
        NewJob(
            "pdf",
            f"/data/inbox/report-{n:05}.pdf",
            "default",
            hashlib.sha256(b"%d" % n).hexdigest(),
        )
        for n in range(count)
    ]
    for start in range(0, count, 1000):
        create_jobs(db, specs[start : start + 1000])
    with db.transaction():
        db.execute(
            "UPDATE jobs SET state = CASE abs(random()) % 10 WHEN 0 THEN 'failed'"
            " WHEN 1 THEN 'queued' ELSE 'completed' END, vector_count = 40, pages = 12,"
            " started_at = queued_at, completed_at = queued_at"
        )
    db.close()


def bench_status(runs: int, count: int = 10_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = fresh_env(home)
        fill(home, count)
        commands = {
            "status": [IQ, "status"],
            "status_failed_24h": [IQ, "status", "--state", "failed", "--since", "24h"],
            "status_json_all": [IQ, "status", "--json", "--limit", str(count)],
        }
        times = {
            name: statistics.median(wall(cmd, env) for _ in range(runs))
            for name, cmd in commands.items()
        }
        base = statistics.median(
            wall([sys.executable, "-c", "import typer"], env) for _ in range(runs)
        )
    return {
        "jobs": count,
        **{f"{k}_s": v for k, v in times.items()},
        "import_typer_s": base,
        "goal_s": 0.5,
        "runs": runs,
    }
