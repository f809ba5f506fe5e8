"""Figures 15-17: the HTTP API (``ingestq serve``) under load.

15. ``POST /v1/documents`` with a 1 MB PDF, 20 concurrent clients (closed loop,
    a bounded count): p50 and p99 for fresh content (every upload distinct, so
    each becomes a job) and for a duplicate (the same bytes again, answered with
    ``duplicate_of``), on ``serve --workers 2``. Baselines: the same with one server
    process, and ``GET /healthz`` by the same 20 clients.
16. ``GET /v1/jobs/{id}`` and ``GET /v1/jobs`` polled open-loop at 200 requests/s
    (each request sent at its scheduled time, its latency counted from then, so
    a stall is not hidden by the clients waiting it out) while a real
    ``ingestq worker`` embeds corpus PDFs on the same home (``serve --workers 2``):
    the worker started plainly, then under ``nice -n 10`` as docs/api.md advises for a
    shared host; and with no worker. Baseline: ``GET /healthz`` at 20/s in the same window.
17. The server's RSS (``VmRSS``) after each of 100 uploads of 50 MB, streamed
    from a generator, each deleted (``DELETE /v1/jobs/{id}``) before the next so
    the disk holds one at a time. Baseline: the server's RSS idle.

The clients run in this process with httpx on the same cores as the server, and
their own CPU time is part of every latency: the figures are an upper bound.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from apiclient import (
    BOUNDARY,
    FORM,
    MB,
    Conn,
    bench_env,
    cpu_s,
    make_token,
    multipart,
    percentiles,
    rss_kb,
    serve,
)
from common import GEOTOPO, IQ, ONE_PDF, corpus_pdfs, stop


# -- figure 15: submissions -----------------------------------------------------------
def padded_pdf(size: int) -> bytes:
    """A real PDF from the corpus, padded to ``size`` bytes with comment lines after
    its ``%%EOF`` (which readers ignore), so it is still a readable PDF."""
    body = ONE_PDF.read_bytes()
    rng = random.Random(15)
    lines = []
    while len(body) + sum(len(x) for x in lines) < size:
        lines.append(b"%" + rng.randbytes(60).hex().encode() + b"\n")
    return (body + b"".join(lines))[:size]


async def closed_loop(url: str, token: str, count: int, clients: int, request: Any) -> list[float]:
    """``count`` requests by ``clients`` connections, each sending its next when the
    last is answered; the latency of each. ``request(n)`` is request ``n``'s
    (method, path, body)."""
    todo = iter(range(count))
    latencies: list[float] = []

    async def one_client() -> None:
        conn = Conn(url, token)
        try:
            for n in todo:
                method, path, body = request(n)
                start = time.perf_counter()
                status, answer = await conn.request(method, path, body, FORM)
                latencies.append(time.perf_counter() - start)
                if status >= 300 or (b"duplicate_of" in answer) != path.endswith("?dup"):
                    raise RuntimeError(f"{path}: {status} {answer[:300]!r}")
        finally:
            conn.close()

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies


def bench_submit(url: str, pid: int, token: str, count: int, clients: int = 20) -> dict[str, Any]:
    """Fresh uploads (the last bytes differ, so each is new content and becomes a job),
    then the same bytes over and over (each answered as a duplicate), then /healthz."""
    pdf = padded_pdf(MB)
    tag = f"{time.time_ns()}".encode()
    bodies = [
        multipart(f"fresh-{n}.pdf", pdf[: -len(tag) - 9] + tag + b"%%%07d\n" % n)
        for n in range(count)
    ]
    again = multipart("again.pdf", pdf)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        c.post("/v1/documents", content=again, headers={"Content-Type": FORM})
    kinds = {
        "fresh": lambda n: ("POST", "/v1/documents", bodies[n]),
        "duplicate": lambda n: ("POST", "/v1/documents?dup", again),
        "healthz": lambda n: ("GET", "/healthz", b""),
    }
    out: dict[str, Any] = {"clients": clients, "pdf_bytes": len(pdf)}
    for kind, request in kinds.items():
        cpu, mine, start = cpu_s(pid), time.process_time(), time.perf_counter()
        out[kind] = percentiles(asyncio.run(closed_loop(url, token, count, clients, request)))
        # The server's own CPU a request: what the machine's other load does not change.
        out[kind]["server_cpu_ms"] = (cpu_s(pid) - cpu) / count * 1000
        # And the clients': with the server's, what bounds the rate on these cores, so
        # the latency of a closed loop (clients / rate, by Little's law).
        out[kind]["client_cpu_ms"] = (time.process_time() - mine) / count * 1000
        out[kind]["per_s"] = count / (time.perf_counter() - start)
    return out


# -- figure 16: status polling while a worker embeds ----------------------------------
async def paced(
    url: str, token: str, seconds: float, streams: dict[str, tuple[float, Any]]
) -> dict[str, list[float]]:
    """Open loop: each stream ``name: (per_second, path_of(n))`` sends its n-th request
    at ``start + n / per_second`` whatever came back before, on the first of 64
    connections free; a latency runs from that scheduled time to the answer."""
    latencies: dict[str, list[float]] = {name: [] for name in streams}
    errors: list[str] = []
    start = time.perf_counter() + 0.2
    due = sorted(
        (start + n / rate, name, path_of(n))
        for name, (rate, path_of) in streams.items()
        for n in range(int(seconds * rate))
    )
    queue: asyncio.Queue[tuple[float, str, str] | None] = asyncio.Queue()

    async def connection() -> None:
        conn = Conn(url, token)
        while (item := await queue.get()) is not None:
            when, name, path = item
            status, answer = await conn.request("GET", path)
            latencies[name].append(time.perf_counter() - when)
            if status != 200:
                errors.append(f"{path}: {status} {answer[:200]!r}")
        conn.close()

    async def schedule() -> None:
        for item in due:
            await asyncio.sleep(max(0.0, item[0] - time.perf_counter()))
            queue.put_nowait(item)
        for _ in range(64):
            queue.put_nowait(None)

    await asyncio.gather(schedule(), *(connection() for _ in range(64)))
    if errors:
        raise RuntimeError(f"{len(errors)} polls failed, the first: {errors[0]}")
    return latencies


def poll_window(url: str, pid: int, token: str, ids: list[str], seconds: float) -> dict[str, Any]:
    """200 status requests a second (a job by id and the list, alternately), 20 of
    ``/healthz``, for ``seconds``."""
    streams = {
        "job": (100.0, lambda n: f"/v1/jobs/{ids[n % len(ids)]}"),
        "list": (100.0, lambda n: "/v1/jobs?limit=20"),
        "healthz": (20.0, lambda n: "/healthz"),
    }
    cpu = cpu_s(pid)
    got = asyncio.run(paced(url, token, seconds, streams))
    cpu = cpu_s(pid) - cpu
    return {
        "server_cpu_ms": cpu / sum(map(len, got.values())) * 1000,
        "server_cpu_share": cpu / seconds,
        "status": percentiles(got["job"] + got["list"]),
        "job": percentiles(got["job"]),
        "list": percentiles(got["list"]),
        "healthz": percentiles(got["healthz"]),
    }


def _states(url: str, token: str) -> dict[str, int]:
    """How many of the bench's jobs are in each state (counted up to 200)."""
    counts: dict[str, int] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        for state in ("queued", "processing", "completed", "failed"):
            found = c.get("/v1/jobs", params={"state": state, "limit": 200}).json()["jobs"]
            counts[state] = len(found)
    return counts


def _wait_processing(url: str, token: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while _states(url, token).get("processing", 0) == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker never started a job")
        time.sleep(0.5)


#: How the worker runs beside the server in figure 16: as started by hand, and as the
#: API's docs recommend on a host the two share (docs/api.md, "Notes for operators").
WORKERS = {"plain": [IQ, "worker"], "nice": ["nice", "-n", "10", IQ, "worker"]}


def _submit_batch(url: str, token: str, force: bool) -> list[str]:
    files = [*[p for p in corpus_pdfs() if p != GEOTOPO][:12], GEOTOPO]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        parts = [("file", (p.name, p.read_bytes(), "application/pdf")) for p in files]
        data = {"force": "true"} if force else {}
        jobs = c.post("/v1/documents", files=parts, data=data, timeout=120).json()["jobs"]
    return [j["id"] for j in jobs]


def bench_polling(
    url: str, pid: int, token: str, env: dict[str, str], tmp: Path, runs: int, seconds: float
) -> dict[str, Any]:
    ids = _submit_batch(url, token, force=False)
    out: dict[str, Any] = {
        "idle": _median_windows([poll_window(url, pid, token, ids, seconds) for _ in range(runs)])
    }
    for n, (name, command) in enumerate(WORKERS.items()):
        if n:  # fresh work for this worker: the last one may have finished the batch
            ids = _submit_batch(url, token, force=True)
        with (tmp / f"worker-{name}.log").open("w") as log:
            worker = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_processing(url, token)
            busy, during = [], []
            for _ in range(runs):
                before = _states(url, token)
                busy.append(poll_window(url, pid, token, ids, seconds))
                during.append({"before": before, "after": _states(url, token)})
        finally:
            stop(worker, 30)
        out[f"busy_{name}"] = _median_windows(busy) | {"states": during, "command": command}
    return out


def _median_windows(windows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        kind: {
            key: statistics.median(w[kind][key] for w in windows)
            for key in ("p50_ms", "p99_ms", "n")
        }
        if isinstance(windows[0][kind], dict)
        else statistics.median(w[kind] for w in windows)
        for kind in windows[0]
    }


# -- figure 17: the server's memory across big uploads --------------------------------
def big_body(size: int, n: int) -> Iterator[bytes]:
    """A multipart body with one ``size``-byte file that starts as a PDF, made 1 MB at a
    time (never whole in this process either); ``n`` makes its content distinct."""
    yield multipart(f"big-{n}.pdf", b"").split(b"\r\n--" + BOUNDARY.encode() + b"--")[0]
    head = b"%PDF-1.7\n%" + b"%09d" % n + b"\n"
    block = bytes(range(256)) * (MB // 256)
    yield head
    sent = len(head)
    while sent < size:
        piece = block[: min(MB, size - sent)]
        yield piece
        sent += len(piece)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def bench_memory_api(
    url: str, pid: int, token: str, home: Path, uploads: int, size_mb: int
) -> dict[str, Any]:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    rss: list[int] = []
    with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
        client.get("/v1/jobs")  # warm the routes before the idle figure
        idle = rss_kb(pid)
        disk_before = _used_bytes(home)
        worst_disk = 0
        for n in range(uploads):
            response = client.post("/v1/documents", content=big_body(size_mb * MB, n))
            if response.status_code != 202:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
            rss.append(rss_kb(pid))
            worst_disk = max(worst_disk, _used_bytes(home) - disk_before)
            job = response.json()["jobs"][0]["id"]
            gone = client.delete(f"/v1/jobs/{job}")
            if gone.status_code != 200:
                raise RuntimeError(f"DELETE {job}: {gone.status_code} {gone.text[:300]}")
    slope = _slope(rss) if len(rss) > 1 else 0.0
    return {
        "uploads": uploads,
        "upload_mb": size_mb,
        "idle_mb": idle / 1024,
        "first_mb": rss[0] / 1024,
        "max_mb": max(rss) / 1024,
        "last_mb": rss[-1] / 1024,
        "slope_kb_per_upload": slope,
        "rss_mb": [r / 1024 for r in rss],
        "home_grew_mb_max": worst_disk / MB,
    }


def _slope(values: list[int]) -> float:
    xs = range(len(values))
    mx, my = statistics.fmean(xs), statistics.fmean(values)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, values, strict=True))
    return num / sum((x - mx) ** 2 for x in xs)


def _used_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file())


# -- the figures together ---------------------------------------------------------------
def _median_submits(submit: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        kind: {k: statistics.median(s[kind][k] for s in submit) for k in submit[0][kind]}
        for kind in ("fresh", "duplicate", "healthz")
    }


#: Server processes for figures 15 and 16 (``serve --workers``): one a core.
SERVE_WORKERS = 2


def bench_api(runs: int, smoke: bool = False) -> dict[str, Any]:
    submits = 40 if smoke else 400
    seconds = 3.0 if smoke else 15.0
    uploads, size_mb = (5, 5) if smoke else (100, 50)
    with tempfile.TemporaryDirectory(dir=os.environ.get("INGESTQ_BENCH_TMP")) as tmp_dir:
        tmp = Path(tmp_dir)
        home = tmp / "home"
        env = bench_env(home)
        token = make_token(env)
        # One process first: figure 17, and figure 15's baseline.
        with serve(env, tmp / "serve.log") as (url, pid):
            memory = bench_memory_api(url, pid, token, home, uploads, size_mb)
            single = [bench_submit(url, pid, token, submits) for _ in range(runs)]
            server_rss_end_mb = rss_kb(pid) / 1024
        with serve(env, tmp / "serve-workers.log", SERVE_WORKERS) as (url, pid):
            submit = [bench_submit(url, pid, token, submits) for _ in range(runs)]
            polling = bench_polling(url, pid, token, env, tmp, runs, seconds)
    return {
        "serve_workers": SERVE_WORKERS,
        "submit": _median_submits(submit),
        "submit_one_process": _median_submits(single),
        "submit_runs": submit,
        "submit_one_process_runs": single,
        "submit_clients": 20,
        "submit_requests": submits,
        "polling": polling,
        "polling_seconds": seconds,
        "polling_rate": 200,
        "memory": memory,
        "server_rss_end_mb": server_rss_end_mb,
        "goal_submit_p99_ms": 100,
        "goal_status_p99_ms": 50,
        "cpus": os.cpu_count(),
        "load_avg_end": os.getloadavg(),
        "runs": runs,
    }
