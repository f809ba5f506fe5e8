"""Jobs: list and page, one job, its history (or a live stream), cancel, retry, delete."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ingestq.api import sse
from ingestq.api.auth import Who
from ingestq.errors import ConflictError, UsageError
from ingestq.ops.control import ControlResult, cancel_jobs, retry_jobs
from ingestq.ops.inventory import remove_jobs
from ingestq.ops.owners import job_view, owner_filter, stored_collection
from ingestq.ops.status import job_details, jobs_by_id, recent_jobs
from ingestq.ops.tokens import Principal
from ingestq.ops.views import job_brief, job_removed

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

#: How often a live stream looks at the state database.
POLL_S = 0.5
MAX_PAGE = 200
TERMINAL = ("completed", "failed", "cancelled")


def _cursor(job: Any) -> str:
    raw = f"{job.queued_at}|{job.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        queued_at, job_id = raw.split("|")
    except (ValueError, UnicodeDecodeError):
        raise UsageError("the cursor is not one this API gave") from None
    return queued_at, job_id


def _page(request: Request, who: Principal, q: dict[str, Any]) -> dict[str, Any]:
    settings = request.app.state.config.settings
    collection = stored_collection(who, q["collection"]) if q["collection"] else None
    found = recent_jobs(
        settings,
        states=q["state"] or (),
        limit=q["limit"] + 1,
        since=q["since"],
        collection=collection,
        owner=owner_filter(who),
        before=_after(q["cursor"]),
    )
    more = len(found) > q["limit"]
    found = found[: q["limit"]]
    return {
        "jobs": [job_view(who, j) for j in found],
        "next_cursor": _cursor(found[-1]) if more and found else None,
    }


@router.get("", summary="List jobs, newest first")
async def list_jobs(
    request: Request,
    who: Who,
    state: Annotated[list[str] | None, Query(description="Only these states.")] = None,
    collection: Annotated[str | None, Query(max_length=512)] = None,
    since: Annotated[str | None, Query(description="Changed in this last while: 24h.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """`{"jobs": [...], "next_cursor": ...}` with the objects of `status --json`.

    With `Accept: text/event-stream`, the first page again each time it changes.
    """
    q = {"state": state, "collection": collection, "since": since, "limit": limit}
    q["cursor"] = cursor
    first = await run_in_threadpool(_page, request, who, q)
    if not sse.wants_stream(request):
        return JSONResponse(first)
    return sse.stream(request, _list_events(request, who, q, first))


async def _list_events(
    request: Request, who: Principal, q: dict[str, Any], first: dict[str, Any]
) -> AsyncIterator[str]:
    page, last_sent = first, time.monotonic()
    yield sse.event("jobs", page)
    while True:
        await _sleep(POLL_S)
        fresh = await run_in_threadpool(_page, request, who, q)
        if fresh != page:
            page, last_sent = fresh, time.monotonic()
            yield sse.event("jobs", page)
        elif time.monotonic() - last_sent > sse.KEEPALIVE_S:
            last_sent = time.monotonic()
            yield ": keepalive\n\n"


async def _sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


@router.get("/{job_id}", summary="One job")
def get_job(request: Request, job_id: str, who: Who) -> dict[str, Any]:
    """The job with the fields of `status --json`."""
    settings = request.app.state.config.settings
    [job] = jobs_by_id(settings, [job_id], owner=owner_filter(who))
    return job_view(who, job)


@router.get("/{job_id}/events", summary="A job's history, or its live stream")
async def job_events(request: Request, job_id: str, who: Who) -> Response:
    """`{"events": [...]}`, the job's history as `events --json` shows it.

    With `Accept: text/event-stream`: each history entry as an `history` event and
    the job (as `status --json`) as a `job` event on every change of state, stage
    or progress, until the job ends (then an `end` event).
    """
    settings = request.app.state.config.settings
    [detail] = await run_in_threadpool(job_details, settings, [job_id], owner=owner_filter(who))
    if not sse.wants_stream(request):
        return JSONResponse({"events": detail.events})
    return sse.stream(request, _job_events(request, who, detail.job.id))


async def _job_events(request: Request, who: Principal, job_id: str) -> AsyncIterator[str]:
    settings = request.app.state.config.settings
    sent_events, last_job, last_sent = 0, None, time.monotonic()
    while True:
        [detail] = await run_in_threadpool(job_details, settings, [job_id], owner=owner_filter(who))
        for item in detail.events[sent_events:]:
            yield sse.event("history", item)
        sent_events = len(detail.events)
        view = job_view(who, detail.job)
        if view != last_job:
            last_job, last_sent = view, time.monotonic()
            yield sse.event("job", view)
        if detail.job.state in TERMINAL:
            yield sse.event("end", {"id": job_id, "state": detail.job.state})
            return
        if time.monotonic() - last_sent > sse.KEEPALIVE_S:
            last_sent = time.monotonic()
            yield ": keepalive\n\n"
        await _sleep(POLL_S)


def _controlled(result: ControlResult) -> dict[str, Any]:
    if result.errors and not result.changed:
        raise ConflictError(result.errors[0])
    return job_brief(result.changed[0])


@router.post("/{job_id}/cancel", summary="Cancel a job")
def cancel_job(request: Request, job_id: str, who: Who) -> dict[str, Any]:
    """Cancel, as `cancel` does; 409 if the job has already ended."""
    settings = request.app.state.config.settings
    _check_visible(request, who, job_id)
    return _controlled(cancel_jobs(settings, [job_id], owner=owner_filter(who)))


@router.post("/{job_id}/retry", summary="Retry a failed or cancelled job")
def retry_job(request: Request, job_id: str, who: Who) -> dict[str, Any]:
    """Retry, as `retry` does; 409 unless the job failed or was cancelled."""
    settings = request.app.state.config.settings
    _check_visible(request, who, job_id)
    return _controlled(retry_jobs(settings, [job_id], owner=owner_filter(who)))


@router.delete("/{job_id}", summary="Delete a job with its chunks")
def delete_job(request: Request, job_id: str, who: Who) -> dict[str, Any]:
    """Remove, as `remove` does; 409 while it is processing (cancel it first)."""
    settings = request.app.state.config.settings
    [gone] = remove_jobs(settings, [job_id], owner=owner_filter(who))
    return job_removed(gone)


def _check_visible(request: Request, who: Principal, job_id: str) -> None:
    """404 for a job ``who`` may not see (control moves report misses as refusals)."""
    jobs_by_id(request.app.state.config.settings, [job_id], owner=owner_filter(who))
