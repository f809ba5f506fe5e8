"""``add DIR --sync`` over many small PDFs: the first sync, an unchanged one, and --checksum.

The PDFs are generated (tiny valid PDFs, each padded to about 40 KB with bytes of
its own) in a temporary directory. Each sync runs as a real ``ingestq add`` process
that reports its own ``/proc/self/io`` as it exits: ``rchar`` counts every byte its
read calls returned, from the page cache or the disk, so an unchanged sync that
reads no file content shows only what Python, the state and the queue read.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import fresh_env, settings_for

#: Runs ``ingestq ARGS``, then writes the process's /proc/self/io to $IQ_IO_OUT.
_WITH_IO = (
    "import atexit, os, sys\n"
    "def _io():\n"
    "    with open('/proc/self/io') as src, open(os.environ['IQ_IO_OUT'], 'w') as out:\n"
    "        out.write(src.read())\n"
    "atexit.register(_io)\n"
    "from ingestq.cli import main\n"
    "main(sys.argv[1:])\n"
)


def tiny_pdf(n: int, size: int = 40_000) -> bytes:
    """A one-page PDF saying "Document n", padded to about ``size`` bytes."""
    text = f"BT /F1 24 Tf 72 700 Td (Document {n}) Tj ET".encode()
    seed = hashlib.sha256(b"%d" % n).digest()
    pad = (seed * (size // len(seed) + 1))[: max(size - 700, 0)]
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(pad), pad),  # unused: the padding
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def generate(directory: Path, count: int, per_dir: int = 1000) -> int:
    """Write ``count`` PDFs under ``directory``, ``per_dir`` a folder; their total bytes."""
    total = 0
    for n in range(count):
        sub = directory / f"d{n // per_dir:03}"
        if n % per_dir == 0:
            sub.mkdir(parents=True)
        data = tiny_pdf(n)
        (sub / f"doc-{n:06}.pdf").write_bytes(data)
        total += len(data)
    return total


def run_sync(env: dict[str, str], directory: Path, *extra: str) -> dict[str, Any]:
    """One ``ingestq add DIR --sync --json``: wall time, its summary, and its I/O."""
    io_out = Path(env["INGESTQ_HOME"]).parent / "io.txt"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WITH_IO, "add", str(directory), "--sync", "--json", *extra],
        env={**env, "IQ_IO_OUT": str(io_out)},
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    ended = time.time()
    out = json.loads(proc.stdout)
    io = dict(line.split(": ") for line in io_out.read_text().splitlines())
    return {
        "s": wall,
        "jobs": len(out["jobs"]),
        "hashed": out["hashed"],
        "unchanged": out["unchanged"],
        "rchar": int(io["rchar"]),
        "read_bytes": int(io["read_bytes"]),
        "ended": ended,
    }


def _queued_at(env: dict[str, str]) -> float:
    """When the newest job was stamped: the first sync's jobs are written from then on."""
    from ingestq.state import jobs, open_state
    from ingestq.times import parse_time

    db = open_state(settings_for(env))
    try:
        [newest] = jobs.list_jobs(db, limit=1)
    finally:
        db.close()
    return parse_time(newest.queued_at).timestamp()


def bench_sync(runs: int, count: int = 50_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="iq-syncbench-") as tmp:
        free = shutil.disk_usage(tmp).free
        need = count * 41_000 * 2.5  # the files, their copies in the blob store, the databases
        if free < need:
            return {"skipped": f"needs {need / 1e9:.1f} GB free in {tmp}, has {free / 1e9:.1f}"}
        docs = Path(tmp) / "docs"
        env = fresh_env(Path(tmp) / "home")
        start = time.perf_counter()
        total = generate(docs, count)
        generated_s = time.perf_counter() - start
        # Files written within a second of a sync's start are read again by the next
        # one (the racy-write guard): let the clock move past them first.
        time.sleep(1.1)
        first = run_sync(env, docs)
        first["write_s"] = first["ended"] - _queued_at(env)
        unchanged = [run_sync(env, docs) for _ in range(max(runs, 1))]
        checksum = [run_sync(env, docs, "--checksum") for _ in range(max(runs, 1))]
    return {
        "files": count,
        "bytes": total,
        "generate_s": generated_s,
        "first": first,
        "unchanged_s": statistics.median(r["s"] for r in unchanged),
        "unchanged_hashed": max(r["hashed"] for r in unchanged),
        "unchanged_rchar": max(r["rchar"] for r in unchanged),
        "unchanged_read_bytes": max(r["read_bytes"] for r in unchanged),
        "unchanged_jobs": max(r["jobs"] for r in unchanged),
        "checksum_s": statistics.median(r["s"] for r in checksum),
        "checksum_hashed": min(r["hashed"] for r in checksum),
        "checksum_rchar": min(r["rchar"] for r in checksum),
        "goal_unchanged_s": 3.0,
        "goal_first_s": 10.0,
        "runs": runs,
    }


def rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    if "skipped" in r:
        return [("18 add DIR --sync", "-", r["skipped"])]
    first = r["first"]
    mb = 1024 * 1024
    return [
        (
            f"18 add --sync, first: {r['files']:,} PDFs, {r['bytes'] / 1e9:.1f} GB",
            f"{first['s']:.1f} s",
            f"{first['jobs']:,} jobs; written (state + queue) in {first['write_s']:.1f} s"
            f" (goal <= {r['goal_first_s']:.0f} s)",
        ),
        (
            "  the same directory, unchanged",
            f"{r['unchanged_s']:.2f} s",
            f"{r['unchanged_hashed']} files read, rchar {r['unchanged_rchar'] / mb:.1f} MB,"
            f" read_bytes {r['unchanged_read_bytes'] / mb:.1f} MB"
            f" (goal <= {r['goal_unchanged_s']:.0f} s, no file read)",
        ),
        (
            "  the same, --checksum (every file hashed)",
            f"{r['checksum_s']:.2f} s",
            f"{r['checksum_hashed']:,} files read, rchar {r['checksum_rchar'] / mb:.0f} MB",
        ),
    ]
