"""What the API benchmarks (api.py) share: an ``ingestq serve`` process, its token,
its RSS and CPU time, and a lean HTTP client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from common import IQ, fresh_env, stop

MB = 1024 * 1024
BOUNDARY = "ingestq-bench-boundary"


# -- the server ---------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_env(home: Path) -> dict[str, str]:
    return {
        **fresh_env(home),
        "INGESTQ_API_SUBMIT_PER_MIN": "1000000",  # the limits are not what is measured
        "INGESTQ_API_SEARCH_PER_MIN": "1000000",
        "INGESTQ_MAX_FILE_MB": "64",
    }


def make_token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [IQ, "tokens", "create", "--owner", "bench", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return str(json.loads(out)["token"])


@contextmanager
def serve(env: dict[str, str], log: Path, workers: int = 1) -> Iterator[tuple[str, int]]:
    """``ingestq serve --workers N`` on a free port: its URL and pid, once ``/healthz``
    answers (with N > 1, once every process has started)."""
    port = _free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingestq", "serve", "--port", str(port)]
            + (["--workers", str(workers)] if workers > 1 else []),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ingestq serve did not start:\n{log.read_text()}")
            try:
                up = httpx.get(url + "/healthz", timeout=2).status_code == 200
                if up and len(tree(proc.pid)) > workers - (workers == 1):
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url, proc.pid
    finally:
        stop(proc, 15)


def tree(pid: int) -> list[int]:
    """The process and its descendants (``serve --workers N``: the supervisor, its servers)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            out += tree(int(child))
    return out


def rss_kb(pid: int) -> int:
    """The resident memory of the process and its descendants, in KiB."""
    total = 0
    for member in tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def cpu_s(pid: int) -> float:
    """The CPU time (user + system) the process and its descendants have used, in seconds."""
    total = 0
    for member in tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def percentiles(seconds: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000, "n": len(seconds)}


# -- a lean client ---------------------------------------------------------------------
class Conn:
    """One keep-alive HTTP/1.1 connection, spoken by hand over asyncio streams.

    httpx spent about 4 ms of this process's CPU a request on these two shared cores,
    which at 200 requests/s made the client the bottleneck; this costs a tenth of it.
    Every answer of the endpoints measured has a Content-Length.
    """

    def __init__(self, url: str, token: str) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.auth = f"Authorization: Bearer {token}\r\n"
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = ""
    ) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}"
        if method == "POST":
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(headers.split(" ", 2)[1])
        length = int(headers.split("content-length:", 1)[1].split("\r\n", 1)[0])
        return status, await reader.readexactly(length)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


def multipart(name: str, content: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


FORM = f"multipart/form-data; boundary={BOUNDARY}"
