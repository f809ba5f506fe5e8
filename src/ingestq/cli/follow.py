"""Following jobs on screen, for ``watch`` and ``--wait``: a live table, or a line per change."""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime
from typing import Any

import typer
from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table

from ingestq.cli import render
from ingestq.config import load_settings
from ingestq.errors import EXIT_INTERRUPTED
from ingestq.ops.watch import Filter, Snapshot, Tally, changes, snapshots, throughput, timing
from ingestq.times import now

#: Characters of a job id shown: unique in practice, and any unique prefix names a job.
ID_PREFIX = 12


def follow(
    flt: Filter,
    *,
    until_done: bool,
    interval: float,
    stop: threading.Event | None = None,
    quiet: bool = False,
    as_json: bool = False,
    tally: Tally | None = None,
) -> Tally:
    """Draw (or print) snapshots until done, ``stop`` is set, or Ctrl-C; return the tally."""
    tally = tally if tally is not None else Tally()
    draw: _Drawer
    if quiet:
        draw = _Drawer()  # the tally is all that is wanted
    elif as_json or not sys.stdout.isatty():
        draw = _Lines(as_json=as_json)
    else:
        draw = _LiveScreen()
    try:
        with draw:
            for snap in snapshots(
                load_settings(), flt, interval=interval, until_done=until_done, stop=stop
            ):
                tally.update(snap, flt.since)
                draw(snap)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    return tally


class _Drawer:
    """Shows snapshots while its context lasts; this one shows nothing."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, snap: Snapshot) -> None:
        return None


class _Lines(_Drawer):
    """One line per state change, plain or JSON: for pipes and cron logs."""

    def __init__(self, as_json: bool = False) -> None:
        self.before: Snapshot | None = None
        self.as_json = as_json

    def __call__(self, snap: Snapshot) -> None:
        for job, old in changes(self.before, snap):
            if self.as_json:
                change: dict[str, Any] = {"at": now(), "id": job.id}
                change |= {"source": job.source, "from": old, "to": job.state}
                change |= {"vectors": job.vector_count, "error": job.error}
                change |= {"worker": job.lease_owner}
                print(json.dumps(change), flush=True)
                continue
            detail = job.error if job.state == "failed" else f"{job.vector_count} vectors"
            stamp = datetime.now().strftime("%H:%M:%S")  # local wall-clock time, for people
            line = f"{stamp} {job.id} {old or '-'} -> {job.state} {job.source} ({detail})"
            print(render.clean(line), flush=True)
        self.before = snap


class _LiveScreen(_Drawer):
    """A Rich live table, redrawn at each snapshot, with a smoothed throughput."""

    def __init__(self) -> None:
        from rich.live import Live

        self.live = Live(console=render.out, auto_refresh=False)
        self.before: Snapshot | None = None
        self.rate = 0.0

    def __enter__(self) -> None:
        self.live.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def __call__(self, snap: Snapshot) -> None:
        if self.before is not None:
            # Smoothed: the worker writes progress in bursts.
            self.rate = 0.7 * self.rate + 0.3 * throughput(self.before, snap)
        self.before = snap
        self.live.update(_screen(snap, self.rate), refresh=True)


def _screen(snap: Snapshot, rate: float) -> RenderableType:
    counts = "  ".join(f"{render.state(s)} {n}" for s, n in snap.counts.items() if n)
    header = f"{counts or 'no jobs'}   [bold]{rate:.1f}[/] chunks/s"
    t = Table(header_style="bold", box=None, pad_edge=False, padding=(0, 1))
    # An id prefix is enough to name a job (`status 01M8HPH20WAB`); fixed columns keep
    # their width and the source gives way, so the table fits an 80-column terminal.
    t.add_column("job", no_wrap=True, min_width=ID_PREFIX)
    t.add_column("source", no_wrap=True, overflow="ellipsis", min_width=8)
    for name, width in (("state", 10), ("stage", 9), ("progress", 10), ("tries", 5)):
        t.add_column(name, no_wrap=True, min_width=width)
    for name, width in (("elapsed", 7), ("eta", 4), ("vectors", 7)):
        t.add_column(name, no_wrap=True, min_width=width, justify="right")
    # Which worker (host:pid) runs each job: shown when any job is running.
    owners = any(job.state == "processing" and job.lease_owner for job in snap.jobs)
    if owners:
        t.add_column("worker", no_wrap=True, overflow="ellipsis", min_width=8)
    for job in snap.jobs:
        elapsed, eta = timing(job)
        progress: RenderableType = f"{job.progress:.0f}%"
        if job.state == "processing":
            progress = ProgressBar(total=100, completed=job.progress, width=10)
        cells: list[RenderableType] = [
            job.id[:ID_PREFIX],
            render.text(render.short_source(job.source, 24)),
            render.state(job.state),
            job.stage or "",
            progress,
            str(job.attempts),
            _secs(elapsed),
            _secs(eta),
            str(job.vector_count),
        ]
        if owners:
            running = job.state == "processing" and job.lease_owner
            cells.append(render.text(job.lease_owner or "") if running else "")
        t.add_row(*cells)
    return Group(header, t)


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"
