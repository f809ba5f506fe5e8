"""``ingestq watch``, and the following of jobs that ``add --wait`` shares."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import CollectionFilter, States
from ingestq.config import load_settings

if TYPE_CHECKING:
    from ingestq.watch import Filter, Snapshot, Tally

#: Characters of a job id shown: unique in practice, and any unique prefix names a job.
ID_PREFIX = 12

#: Finished jobs stay on screen this long after they end.
RECENT = timedelta(minutes=10)


@app.command()
def watch(
    until_done: Annotated[
        bool,
        typer.Option("--until-done", help="Exit when nothing is queued, processing or retrying."),
    ] = False,
    collection: CollectionFilter = None,
    state: States = None,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.", min=0.1)] = 1.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per state change, never a table.")
    ] = False,
) -> None:
    """Follow jobs live: state, stage, progress, ETA and vectors, refreshed every second.

    Shows the jobs that are active or ended in the last 10 minutes, with
    counts per state and the current throughput. When standard output is not a
    terminal (cron, a pipe), prints one line per state change instead. With
    --until-done it exits when no job is queued, processing or retrying: 1 if
    a job it saw failed, else 0. Ctrl-C stops it.

    Example: ingestq watch --until-done
    """
    from ingestq.jobs import STATES
    from ingestq.watch import Filter

    for s in state or []:
        if s not in STATES:
            from ingestq.errors import UsageError

            raise UsageError(f"--state {s!r}: use one of {', '.join(STATES)}")
    since = datetime.now(UTC) - RECENT
    flt = Filter(
        since=since.isoformat().replace("+00:00", "Z"), collection=collection, states=state or ()
    )
    tally = follow(flt, until_done=until_done, interval=interval, as_json=as_json)
    if until_done and tally.failed:
        raise typer.Exit(1)


def follow(
    flt: Filter,
    *,
    until_done: bool,
    interval: float,
    stop: threading.Event | None = None,
    quiet: bool = False,
    as_json: bool = False,
) -> Tally:
    """Draw (or print) snapshots until done, ``stop`` is set, or Ctrl-C; return the tally."""
    from ingestq.db import connect
    from ingestq.watch import Tally

    conn = connect(load_settings().state_db)
    tally = Tally()
    try:
        if quiet:
            _loop(conn, flt, tally, until_done, interval, stop, lambda snap: None)
        elif as_json:
            _loop(conn, flt, tally, until_done, interval, stop, _Lines(as_json=True))
        elif sys.stdout.isatty():
            _follow_live(conn, flt, tally, until_done, interval, stop)
        else:
            _loop(conn, flt, tally, until_done, interval, stop, _Lines())
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        conn.close()
    return tally


def _loop(
    conn: Any,
    flt: Filter,
    tally: Tally,
    until_done: bool,
    interval: float,
    stop: Any,
    draw: Callable[[Snapshot], None],
) -> None:
    """Snapshot, count, draw, until done."""
    from ingestq.watch import snapshot

    while True:
        snap = snapshot(conn, flt)
        tally.update(snap, flt.since)
        draw(snap)
        if _finished(snap, until_done, stop):
            return
        time.sleep(interval)


class _Lines:
    """One line per state change, plain or JSON: for pipes and cron logs."""

    def __init__(self, as_json: bool = False) -> None:
        self.before: Snapshot | None = None
        self.as_json = as_json

    def __call__(self, snap: Snapshot) -> None:
        from ingestq.watch import changes

        for job, old in changes(self.before, snap):
            if self.as_json:
                change: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "id": job.id}
                change |= {"source": job.source, "from": old, "to": job.state}
                change |= {"vectors": job.vector_count, "error": job.error}
                print(json.dumps(change), flush=True)
                continue
            detail = job.error if job.state == "failed" else f"{job.vector_count} vectors"
            stamp = datetime.now().strftime("%H:%M:%S")
            line = f"{stamp} {job.id} {old or '-'} -> {job.state} {job.source} ({detail})"
            print(line, flush=True)
        self.before = snap


def _follow_live(
    conn: Any, flt: Filter, tally: Tally, until_done: bool, interval: float, stop: Any
) -> None:
    from rich.live import Live

    from ingestq.watch import snapshot, throughput

    first = snapshot(conn, flt)
    with Live(_screen(first, 0.0), console=render.out, auto_refresh=False) as screen:
        last: list[Any] = [first, 0.0]  # the previous snapshot and the smoothed rate

        def draw(snap: Snapshot) -> None:
            # Smoothed: the worker writes progress in bursts.
            rate = 0.7 * last[1] + 0.3 * throughput(last[0], snap)
            last[:] = [snap, rate]
            screen.update(_screen(snap, rate), refresh=True)

        _loop(conn, flt, tally, until_done, interval, stop, draw)


def _finished(snap: Snapshot, until_done: bool, stop: Any) -> bool:
    if stop is not None and stop.is_set():
        return True
    return until_done and not snap.active()


def _screen(snap: Snapshot, rate: float) -> Any:
    from rich.console import Group
    from rich.progress_bar import ProgressBar

    from ingestq.watch import timing

    counts = "  ".join(f"{render.state(s)} {n}" for s, n in snap.counts.items() if n)
    header = f"{counts or 'no jobs'}   [bold]{rate:.1f}[/] chunks/s"
    from rich.table import Table

    t = Table(header_style="bold", box=None, pad_edge=False, padding=(0, 1))
    # An id prefix is enough to name a job (`status 01M8HPH20WAB`); fixed columns keep
    # their width and the source gives way, so the table fits an 80-column terminal.
    t.add_column("job", no_wrap=True, min_width=ID_PREFIX)
    t.add_column("source", no_wrap=True, overflow="ellipsis", min_width=8)
    for name, width in (("state", 10), ("stage", 9), ("progress", 10), ("tries", 5)):
        t.add_column(name, no_wrap=True, min_width=width)
    for name, width in (("elapsed", 7), ("eta", 4), ("vectors", 7)):
        t.add_column(name, no_wrap=True, min_width=width, justify="right")
    for job in snap.jobs:
        elapsed, eta = timing(job)
        progress: Any = f"{job.progress:.0f}%"
        if job.state == "processing":
            progress = ProgressBar(total=100, completed=job.progress, width=10)
        t.add_row(
            job.id[:ID_PREFIX],
            escape(render.short_source(job.source, 24)),
            render.state(job.state),
            job.stage or "",
            progress,
            str(job.attempts),
            _secs(elapsed),
            _secs(eta),
            str(job.vector_count),
        )
    return Group(header, t)


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"
