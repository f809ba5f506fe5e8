"""Opening the vector store cold: a Chroma server (``ChromaStore.server``) against
Chroma embedded in the home (``ChromaStore.embedded``).

Each sample is a new process, as a CLI command is, interleaved embedded/server:

- open: ``import chromadb`` and ingestq's store module are done before the clock
  starts; timed is opening the store (a client, its checks: tenant, database,
  batch size) and the first read of a collection (its model check and count);
- process: the whole ``python -c`` process wall clock, imports included.

The server is a ``chroma run`` of the installed chromadb on 127.0.0.1, so the
network costs nothing here: what is measured is the client's own work and the
round trips, not a LAN.

    .venv/bin/python benchmarks/chromaopen.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
MODEL, DIM = "bench-model", 8

#: Run in a new process: prints the seconds that opening and a first read took.
OPEN = """
import sys, time
from pathlib import Path
from ingestq.store.chroma import ChromaStore
import chromadb
kind, where = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if kind == "embedded":
    store = ChromaStore.embedded(Path(where))
else:
    store = ChromaStore.server(where, None, "default_tenant", "bench_open")
store.check_collection("bench", "bench-model")
assert store.count("bench") == 100
print(time.perf_counter() - start)
"""


def bench_chromaopen(runs: int) -> dict[str, Any]:
    """Medians of ``runs`` cold opens of each store, and their ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        embedded = Path(tmp) / "chroma"
        server, url = _start_server(Path(tmp) / "server")
        try:
            _fill(embedded, url)
            opens: dict[str, list[float]] = {"embedded": [], "server": []}
            procs: dict[str, list[float]] = {"embedded": [], "server": []}
            for _ in range(runs):
                for kind, where in (("embedded", str(embedded)), ("server", url)):
                    took, wall = _open_once(kind, where)
                    opens[kind].append(took)
                    procs[kind].append(wall)
        finally:
            server.terminate()
            server.wait(15)
    result: dict[str, Any] = {f"{k}_open_s": statistics.median(v) for k, v in opens.items()}
    result |= {f"{k}_process_s": statistics.median(v) for k, v in procs.items()}
    result["ratio"] = result["server_open_s"] / result["embedded_open_s"]
    result["runs"] = runs
    return result


def rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The figure's rows for benchmarks/report.py (name, value, baseline)."""
    return [
        (
            "ChromaStore.server, cold open",
            f"{r['server_open_s'] * 1000:.0f} ms",
            f"embedded {r['embedded_open_s'] * 1000:.0f} ms (x{r['ratio']:.2f})",
        ),
        (
            "  whole process, imports included",
            f"{r['server_process_s'] * 1000:.0f} ms",
            f"embedded {r['embedded_process_s'] * 1000:.0f} ms",
        ),
    ]


def _open_once(kind: str, where: str) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", OPEN, kind, where],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    return float(proc.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def _fill(embedded: Path, url: str) -> None:
    """The same collection of 100 vectors in both stores."""
    from ingestq.store.chroma import ChromaStore

    vectors = [[float(i == j % DIM) for i in range(DIM)] for j in range(100)]
    for store in (
        ChromaStore.embedded(embedded),
        ChromaStore.server(url, None, "default_tenant", "bench_open"),
    ):
        store.ensure_collection("bench", MODEL, DIM)
        ids = [f"c{j}" for j in range(100)]
        store.add(
            "bench", ids, vectors, [f"text {j}" for j in range(100)], [{"j": j} for j in range(100)]
        )


def _start_server(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path.mkdir(parents=True)
    proc = subprocess.Popen(
        [str(BIN / "chroma"), "run", "--path", str(path / "data"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the Chroma server did not start")


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    result = bench_chromaopen(parser.parse_args().runs)
    for name, value, baseline in rows(result):
        print(f"{name:<36} {value:>10}   {baseline}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
