"""A real ``ingestq serve`` process on a free 127.0.0.1 port, for the API and web tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from conftest import free_port, iq


@dataclass
class ApiServer:
    url: str
    proc: subprocess.Popen[str]
    log_path: Path

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers |= kwargs.pop("headers", {})
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def rss_kb(self) -> int:
        """The server's resident memory now, in KiB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        [line] = [ln for ln in status.splitlines() if ln.startswith("VmRSS:")]
        return int(line.split()[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def start_server(
    log_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[ApiServer]:
    """``ingestq serve`` with ``args``, answering ``/healthz``; stopped at the end."""
    port = free_port()
    log_path = log_dir / f"serve-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingestq", "serve", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def _wait_ready(server: ApiServer) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"ingestq serve exited {server.proc.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"ingestq serve did not answer:\n{server.log()}")


def make_token(owner: str, *, admin: bool = False) -> str:
    """A new token of ``owner``'s, made by the real CLI."""
    args = ["tokens", "create", "--owner", owner, "--json"] + (["--admin"] if admin else [])
    made = json.loads(iq(*args, check=True).stdout)
    assert made["owner"] == owner and made["admin"] is admin
    return str(made["token"])


def upload(client: httpx.Client, *paths: Path, **fields: str) -> httpx.Response:
    """POST the PDFs to /v1/documents, as ``curl -F file=@...`` would."""
    files = [("file", (p.name, p.read_bytes(), "application/pdf")) for p in paths]
    return client.post("/v1/documents", files=files, data=fields)


def wait_for_state(
    client: httpx.Client, job_id: str, states: tuple[str, ...], timeout: float = 180
) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until the job is in one of ``states``."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job.get("state") in states:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never reached {states}: {job}")


def sse_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """The (event, data) pairs of a streamed text/event-stream response."""
    name, data = "message", ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif not line and data:
            yield name, json.loads(data)
            name, data = "message", ""
