"""What ``add`` and ``scrape`` print, and ``--wait``: block until the submitted jobs end."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import typer

from ingestq.cli import render
from ingestq.config import load_settings
from ingestq.errors import EXIT_FAILURE
from ingestq.state.jobs import FAILED

if TYPE_CHECKING:
    from ingestq.ops.submit import AddResult
    from ingestq.ops.watch import Filter, Tally


def report_submitted(result: AddResult, as_json: bool, wait: bool = False) -> None:
    """Print what ``add``/``scrape`` queued, then (``wait``) follow it to the end.

    Exits 1 if some entries were refused or, when waiting, if a job failed.
    """
    for error in result.errors:
        render.warn(error)
    if wait:
        if not as_json:
            _submitted_table(result)
        wait_for(result, as_json)
    elif as_json:
        render.print_json([s.to_dict() for s in result.submitted])
    else:
        _submitted_table(result)
    if result.errors:
        raise typer.Exit(EXIT_FAILURE)


def _submitted_table(result: AddResult) -> None:
    t = render.table("job", "source", "state")
    for s in result.submitted:
        note = f" (duplicate of {s.duplicate_of})" if s.duplicate_of else ""
        if s.duplicate_of and s.job.state == FAILED:
            note = " before, on the same content: `ingestq retry` or `add --force` tries again"
        t.add_row(
            s.job.id,
            render.text(render.short_source(s.job.source)),
            render.state(s.job.state) + note,
        )
    render.out.print(t)


def wait_for(result: AddResult, as_json: bool = False) -> None:
    """Follow ``result``'s jobs to their end; exit 1 if any failed.

    With no worker running on this home, run them here, as ``worker --burst``
    would, so one cron line (``ingestq add /data/inbox --wait``) does the job.
    """
    # Imported here: plain `add` must not pay for following jobs.
    from ingestq.cli.follow import follow
    from ingestq.ops.status import jobs_by_id
    from ingestq.ops.watch import Filter, Tally

    ids = list(dict.fromkeys(s.job.id for s in result.submitted))
    tally = Tally()
    if ids:
        flt = Filter(since="", job_ids=ids)
        if not _run_here(flt, tally, as_json):
            follow(flt, until_done=True, interval=0.5, quiet=as_json, tally=tally)
    if as_json:
        found = jobs_by_id(load_settings(), ids)
        render.print_json(
            [{"id": j.id, "source": j.source, "state": j.state, "error": j.error} for j in found]
        )
    _report(result, tally)


def _run_here(flt: Filter, tally: Tally, quiet: bool) -> bool:
    """Run the jobs in this process while a thread shows them; False if a worker runs them."""
    from ingestq.cli.follow import follow
    from ingestq.ops.wait import run_here

    # The progress display is the output here, not the worker's log.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    follower = threading.Thread(
        target=follow,
        kwargs={
            "flt": flt,
            "until_done": False,
            "interval": 0.5,
            "stop": stop,
            "quiet": quiet,
            "tally": tally,
        },
        name="ingestq-wait",
        daemon=True,
    )
    follower.start()
    try:
        return run_here(load_settings(), flt)
    finally:
        stop.set()
        follower.join()


def _report(result: AddResult, tally: Tally) -> None:
    failed = {s.job.id: s.job for s in result.submitted if s.job.state == FAILED}
    failed |= tally.failed
    for job in failed.values():
        render.err.print(
            f"[red]failed:[/] {job.id} {render.text(job.source)}: {render.text(job.error or '')}",
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(EXIT_FAILURE)
