"""A server process keeps freed buffers for reuse instead of mapping fresh memory."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Allocates a 3 MB buffer (past glibc's default mmap threshold, under ours) and says
# whether it got a mapping of its own: fresh pages that fault, every time.
PROBE = """
import sys
from ingestq.api import memory
if sys.argv[1] == "tuned":
    assert memory.keep_freed_memory()
def mappings():
    out = set()
    for line in open("/proc/self/maps"):
        span, rest = line.split(" ", 1)
        lo, hi = (int(x, 16) for x in span.split("-"))
        if len(rest.split()) < 5 and 3_000_000 <= hi - lo <= 3_300_000:
            out.add(span)
    return out
before = mappings()
buffer = bytearray(3_000_000)
print("own mapping" if mappings() - before else "heap")
"""


def _probe(mode: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux")
def test_upload_sized_buffers_come_from_the_heap_once_tuned() -> None:
    assert _probe("default") == "own mapping", "glibc's default: a mapping per big buffer"
    assert _probe("tuned") == "heap"


def test_the_server_tunes_its_process_when_it_builds_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ingestq.api import app, memory
    from ingestq.config import load_settings

    calls: list[bool] = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(True) or True)
    app.create_app(app.ServeConfig(settings=load_settings()))
    assert calls == [True]
