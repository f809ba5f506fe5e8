"""``watch`` on a terminal and into a pipe, and ``--wait`` with and without a worker."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import BROKEN, FOUR_PAGES, TRIVIAL, corpus, iq, run_cli

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def add(*paths: Path) -> list[dict[str, Any]]:
    out = run_cli("add", *map(str, paths), "--json", check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def run_in_pty(*args: str, timeout: float = 240) -> tuple[int, str]:
    """Run ``ingestq ARGS`` with a pseudo-terminal as stdout; its exit code and screen text."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestq", *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "COLUMNS": "120", "LINES": "40"},
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:  # the other end closed: the process is gone
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(controller)
    code = proc.wait(10)
    return code, ANSI.sub("", b"".join(chunks).decode(errors="replace"))


@pytest.mark.e2e
def test_watch_on_a_terminal_shows_the_jobs_and_exits_1_after_a_failure(
    worker_proc: Any,
) -> None:

    good, bad = add(corpus(FOUR_PAGES), corpus(BROKEN))
    worker_proc()
    code, screen = run_in_pty("watch", "--until-done", "--interval", "0.3")
    assert code == 1, screen
    for job in (good, bad):
        assert job["id"][:12] in screen
    assert "completed" in screen and "failed" in screen and "chunks/s" in screen
    assert "Traceback" not in screen


@pytest.mark.e2e
def test_watch_into_a_pipe_prints_one_line_per_change(worker_proc: Any) -> None:
    [job] = add(corpus(TRIVIAL))
    worker_proc()
    proc = run_cli("watch", "--until-done", "--interval", "0.3", timeout=240)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if job["id"] in ln]
    assert (
        lines[-1].split()[2:5] == ["processing", "->", "completed"] or "-> completed" in lines[-1]
    )
    assert all("\x1b[" not in ln for ln in proc.stdout.splitlines()), "no redrawing into a pipe"
    assert any("-> completed" in ln and "1 vectors" in ln for ln in lines)
    as_json = run_cli("watch", "--until-done", "--json", timeout=60)
    changes = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {"id": job["id"], "to": "completed", "vectors": 1}.items() <= changes[-1].items()


def test_watch_with_nothing_to_do_exits_at_once() -> None:
    proc = run_cli("watch", "--until-done", timeout=60)
    assert proc.returncode == 0 and proc.stdout == ""
    assert run_cli("watch", "--state", "bogus").returncode == 2


@pytest.mark.e2e
def test_wait_without_a_worker_runs_the_jobs_itself() -> None:
    ok = iq("add", str(corpus(TRIVIAL)), "--wait")
    assert ok.returncode == 0, ok.stderr
    assert "-> completed" in ok.stdout
    [done] = json.loads(run_cli("status", "--json", check=True).stdout)
    assert done["state"] == "completed" and done["vector_count"] > 0
    bad = iq("add", str(corpus(BROKEN)), "--wait", "--json")
    assert bad.returncode == 1
    [final] = json.loads(bad.stdout)
    assert final["state"] == "failed"
    assert "failed:" in bad.stderr and "cannot be read" in bad.stderr


@pytest.mark.e2e
def test_wait_with_a_running_worker_lets_it_do_the_work(worker_proc: Any) -> None:
    worker = worker_proc()
    # On shared state, the worker is seen once it has registered; embedded, by its lock.
    worker.wait_ready()
    proc = run_cli("add", str(corpus(FOUR_PAGES)), "--wait", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    [final] = json.loads(proc.stdout)
    assert final["state"] == "completed"
    assert final["id"] in worker.log(), "the running worker ran it, not the waiting command"
