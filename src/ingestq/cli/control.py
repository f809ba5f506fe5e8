"""``ingestq cancel``, ``ingestq retry`` and ``ingestq events``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import Json
from ingestq.config import load_settings
from ingestq.errors import EXIT_FAILURE
from ingestq.ops.views import job_brief

if TYPE_CHECKING:
    from ingestq.ops.control import ControlResult

JobIds = Annotated[
    list[str] | None,
    typer.Argument(metavar="JOB_ID...", help="Job ids or unique prefixes.", show_default=False),
]


@app.command()
def cancel(job_ids: JobIds = None, as_json: Json = False) -> None:
    """Cancel jobs: a queued or retrying job never runs; a processing one stops.

    A processing job stops at its next checkpoint (a page or a batch) and its
    vectors are removed. Every cancelled job ends in state `cancelled`.

    Example: ingestq cancel 01JD3QX
    """
    from ingestq.ops.control import cancel_jobs

    _show(cancel_jobs(load_settings(), job_ids or []), as_json)


@app.command()
def retry(
    job_ids: JobIds = None,
    failed: Annotated[bool, typer.Option("--failed", help="Retry every failed job.")] = False,
    as_json: Json = False,
) -> None:
    """Put failed or cancelled jobs back in the queue, with fresh attempts.

    Example: ingestq retry --failed
    """
    from ingestq.ops.control import retry_jobs

    _show(retry_jobs(load_settings(), job_ids or [], all_failed=failed), as_json)


@app.command()
def events(
    job_id: Annotated[
        str, typer.Argument(metavar="JOB_ID", show_default=False, help="A job id or unique prefix.")
    ],
    as_json: Json = False,
) -> None:
    """Show a job's history: queued, claimed, stages, retries, recovery, the end.

    Example: ingestq events 01JD3QX --json
    """
    from ingestq.ops.status import job_details

    [detail] = job_details(load_settings(), [job_id])
    if as_json:
        render.print_json(detail.events)
        return
    t = render.table("at", "event", "detail", title=f"job {detail.job.id}")
    for event in detail.events:
        t.add_row(event["at"], event["event"], render.text(event["message"] or ""))
    render.out.print(t)


def _show(result: ControlResult, as_json: bool) -> None:
    for error in result.errors:
        render.warn(error)
    if as_json:
        render.print_json([job_brief(j) for j in result.changed])
    else:
        t = render.table("job", "source", "state")
        for j in result.changed:
            t.add_row(j.id, render.text(render.short_source(j.source)), render.state(j.state))
        render.out.print(t)
    if result.errors:
        raise typer.Exit(EXIT_FAILURE)
