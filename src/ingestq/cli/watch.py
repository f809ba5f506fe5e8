"""``ingestq watch``."""

from __future__ import annotations

from typing import Annotated

import typer

from ingestq.cli.app import app
from ingestq.cli.options import CollectionFilter, States
from ingestq.errors import EXIT_FAILURE


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
    from ingestq.cli.follow import follow
    from ingestq.ops.watch import Filter

    flt = Filter.recent(collection=collection, states=state or ())
    tally = follow(flt, until_done=until_done, interval=interval, as_json=as_json)
    if until_done and tally.failed:
        raise typer.Exit(EXIT_FAILURE)
