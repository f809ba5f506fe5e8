"""``ingestq status``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import CollectionFilter, States
from ingestq.config import load_settings
from ingestq.ops.views import job_detail
from ingestq.state.jobs import Job

if TYPE_CHECKING:
    from ingestq.ops.status import JobDetail


@app.command()
def status(
    job_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="JOB_ID...",
            help="Job ids, or unique prefixes of them, to show in detail.",
            show_default=False,
        ),
    ] = None,
    state: States = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="How many jobs.")] = 20,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DURATION",
            show_default=False,
            help="Only jobs that changed in this last while: 30m, 24h, 7d.",
        ),
    ] = None,
    collection: CollectionFilter = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show recent jobs, or every field and the history of the jobs named.

    States: queued, processing, retrying, completed, failed, cancelled.
    Timestamps are ISO 8601 in UTC.

    Example: ingestq status --state failed --since 24h
    """
    from ingestq.ops.status import job_details, recent_jobs

    settings = load_settings()
    if job_ids:
        _detail_view(job_details(settings, job_ids), as_json)
    else:
        found = recent_jobs(
            settings, states=state or (), limit=limit, since=since, collection=collection
        )
        _list_view(found, state, as_json)


def _detail_view(details: list[JobDetail], as_json: bool) -> None:
    if as_json:
        render.print_json([_public(d.job) | {"events": d.events} for d in details])
        return
    for d in details:
        _print_detail(d.job, d.events)


def _list_view(found: list[Job], state: list[str] | None, as_json: bool) -> None:
    if as_json:
        render.print_json([_public(j) for j in found])
        return
    if not found:
        render.out.print("no jobs" + (f" in state {', '.join(state)}" if state else ""))
        return
    t = render.table("job", "source", "state", "stage", "progress", "vectors", "age")
    for j in found:
        t.add_row(
            j.id,
            render.text(render.short_source(j.source)),
            render.state(j.state) + _due(j),
            j.stage or "",
            f"{j.progress:.0f}%",
            str(j.vector_count),
            render.age(j.queued_at),
        )
    render.out.print(t)


def _public(job: Job) -> dict[str, Any]:
    return job_detail(job)


def _print_detail(job: Job, events: list[dict[str, Any]]) -> None:
    t = render.table("field", "value", title=f"job {job.id}")
    for key, value in _public(job).items():
        if value in (None, "", [], {}):
            continue
        shown = render.state(value) if key == "state" else render.text(str(value))
        t.add_row(key, shown)
    render.out.print(t)
    if events:
        h = render.table("at", "event", "detail")
        for e in events:
            h.add_row(e["at"], e["event"], render.text(e["message"] or ""))
        render.out.print(h)
    render.out.print()


def _due(job: Job) -> str:
    """' (in 14s)' for a job held until later."""
    if not job.not_before or job.state not in ("queued", "retrying"):
        return ""
    left = render.until(job.not_before)
    return f" (in {left})" if left else ""
