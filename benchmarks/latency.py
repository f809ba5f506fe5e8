"""Figures 1, 3 and 4: how fast submitting feels, and how soon a worker starts."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import CORPUS, IQ, ONE_PDF, fresh_env, wall, when


def bench_add(runs: int) -> dict[str, Any]:
    """`ingestq add one.pdf` on a warm home, interleaved with the typer-import baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        env = fresh_env(Path(tmp) / "home")
        # First use creates the databases; users pay that once, not per add.
        wall([IQ, "add", str(CORPUS / "001-trivial/minimal-document.pdf")], env)
        add_cmd = [IQ, "add", str(ONE_PDF), "--force"]
        base_cmd = [sys.executable, "-c", "import typer"]
        adds, bases = [], []
        for _ in range(runs):
            bases.append(wall(base_cmd, env))
            adds.append(wall(add_cmd, env))
    add_s, base_s = statistics.median(adds), statistics.median(bases)
    return {
        "add_s": add_s,
        "import_typer_s": base_s,
        "ratio": add_s / base_s,
        "goal_ratio": 3.0,
        "runs": runs,
    }


def bench_scrape_enqueue(runs: int) -> dict[str, Any]:
    """`ingestq scrape --from-file` with 1,000 URLs, on a warm home."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "urls.txt"
        listing.write_text("".join(f"https://docs.example.org/p/{i}.html\n" for i in range(1000)))
        for run in range(runs):
            env = fresh_env(Path(tmp) / f"home{run}")
            wall([IQ, "status"], env)  # first use: create the databases
            times.append(wall([IQ, "scrape", "--from-file", str(listing)], env))
    return {"scrape_1000_s": statistics.median(times), "goal_s": 2.0, "runs": runs}


def bench_pickup(runs: int) -> dict[str, Any]:
    """Enqueue-to-start latency with an idle, already running worker."""
    with tempfile.TemporaryDirectory() as tmp:
        env = fresh_env(Path(tmp) / "home")
        worker = subprocess.Popen(
            [IQ, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            assert worker.stderr is not None
            for line in worker.stderr:
                if "ready:" in line:
                    break
            latencies = []
            for pdf in sorted(CORPUS.glob("0[0-2]*/*.pdf"))[:runs]:
                time.sleep(1.5)  # let the worker go idle and back off fully
                subprocess.run(
                    [IQ, "add", str(pdf), "--force"], env=env, check=True, capture_output=True
                )
                latencies.append(_wait_started(env))
        finally:
            worker.terminate()
            worker.wait(60)
    return {
        "pickup_s": statistics.median(latencies),
        "max_s": max(latencies),
        "goal_s": 1.0,
        "runs": len(latencies),
    }


def _wait_started(env: dict[str, str]) -> float:
    while True:
        out = subprocess.run(
            [IQ, "status", "--json", "--limit", "1"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        [job] = json.loads(out)
        if job["started_at"]:
            return (when(job["started_at"]) - when(job["queued_at"])).total_seconds()
        time.sleep(0.05)
