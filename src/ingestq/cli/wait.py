"""``--wait`` for ``add`` and ``scrape``: block until the submitted jobs end."""

from __future__ import annotations

import logging
import threading
from typing import Any

import typer
from rich.markup import escape

from ingestq.cli import render
from ingestq.config import Settings, load_settings
from ingestq.errors import EXIT_FAILURE, WorkerRunningError


def wait_for(result: Any, as_json: bool = False) -> None:
    """Follow ``result``'s jobs to their end; exit 1 if any failed.

    With no worker running on this home, run them here, as ``worker --burst``
    would, so one cron line (``ingestq add /data/inbox --wait``) does the job.
    """
    from ingestq.cli.watch import follow
    from ingestq.watch import Filter, Tally
    from ingestq.worker import worker_running

    ids = list(dict.fromkeys(s.job.id for s in result.submitted))
    tally = Tally()
    if ids:
        flt = Filter(since="", job_ids=ids)
        settings = load_settings()
        if worker_running(settings) or not _run_here(settings, flt, tally, as_json):
            tally = follow(flt, until_done=True, interval=0.5, quiet=as_json)
    if as_json:
        _print_final(ids)
    _report(result, tally)


def _run_here(settings: Settings, flt: Any, tally: Any, quiet: bool) -> bool:
    """Run the jobs in this process while a thread shows them; False if a worker took over."""
    from ingestq.cli.watch import follow
    from ingestq.db import connect
    from ingestq.watch import snapshot
    from ingestq.worker import run_until

    # The progress display is the output here, not the worker's log.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def show() -> None:
        tally.__dict__.update(
            follow(flt, until_done=False, interval=0.5, stop=stop, quiet=quiet).__dict__
        )

    follower = threading.Thread(target=show, name="ingestq-wait", daemon=True)
    follower.start()
    conn = connect(settings.state_db)
    try:
        run_until(settings, lambda: not snapshot(conn, flt).active())
    except WorkerRunningError:
        return False  # a worker started meanwhile: it runs them; we only follow
    finally:
        stop.set()
        follower.join()
        conn.close()
    return True


def _print_final(ids: list[str]) -> None:
    from ingestq.db import connect
    from ingestq.jobs import get_job

    conn = connect(load_settings().state_db)
    try:
        jobs = [get_job(conn, job_id) for job_id in ids]
    finally:
        conn.close()
    render.print_json(
        [{"id": j.id, "source": j.source, "state": j.state, "error": j.error} for j in jobs]
    )


def _report(result: Any, tally: Any) -> None:
    from ingestq.jobs import FAILED

    failed = {s.job.id: s.job for s in result.submitted if s.job.state == FAILED}
    failed |= tally.failed
    for job in failed.values():
        render.err.print(
            f"[red]failed:[/] {job.id} {escape(job.source)}: {escape(job.error or '')}",
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(EXIT_FAILURE)
