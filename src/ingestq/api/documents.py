"""Submitting work: ``POST /v1/documents`` (PDF uploads) and ``POST /v1/urls``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ingestq.api.auth import Credentials
from ingestq.api.limits import Submitter, submitter
from ingestq.api.uploads import MultipartReader, form_boundary
from ingestq.errors import TooLargeError, UsageError, WriterBusy
from ingestq.ops.inputs import SubmitOptions, start_time
from ingestq.ops.owners import stored_collection
from ingestq.ops.submit import AddResult, scrape_urls
from ingestq.ops.tokens import Principal
from ingestq.ops.uploads import (
    CappedPDF,
    StoredUpload,
    add_uploads,
    clean_name,
    store_upload,
    without_waiting,
)

T = TypeVar("T")

router = APIRouter(prefix="/v1", tags=["submit"])

#: Files one request may carry.
MAX_FILES = 50
#: Body bytes handed to the upload's thread at a time (at most this much is read
#: past a refusal: a file over the cap, or one that is not a PDF).
HANDOFF = 1024 * 1024
#: The largest body handled on the event loop (:func:`_inline`).
INLINE_MAX = 2 * 1024 * 1024
#: Room for a form's boundaries, headers and fields beside its file.
FORM_OVERHEAD = 64 * 1024
FIELDS = ("collection", "callback", "delay", "force")

UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "One or more PDFs (repeat the field).",
                    },
                    "collection": {"type": "string", "default": "default"},
                    "callback": {"type": "string", "description": "URL to POST each outcome to"},
                    "delay": {"type": "string", "description": "Hold the jobs: 90s, 10m, 2h"},
                    "force": {"type": "boolean", "default": False},
                },
            }
        }
    },
}

SUBMITTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Accepted: the jobs, as `add --json` prints them, and refusals."}
}


def _options(who: Principal, fields: dict[str, str]) -> SubmitOptions:
    force = fields.get("force", "").lower() in ("1", "true", "yes", "on")
    return SubmitOptions(
        collection=stored_collection(who, fields.get("collection") or "default"),
        force=force,
        start_at=start_time(delay=fields.get("delay") or None),
        callback=fields.get("callback") or None,
        owner=who.owner,
    )


def _job_path(request: Request) -> str:
    """Where a job is followed, with ``{}`` for its id, worked out once per application:
    ``url_for`` searches every route, and was a tenth of a small upload's time."""
    state = request.app.state
    path: str | None = getattr(state, "job_path", None)
    if path is None:
        path = state.job_path = str(request.url_for("get_job", job_id="{}").path)
    return path


def _accepted(request: Request, who: Principal, result: AddResult) -> JSONResponse:
    """202 with each job as ``add --json`` shows it, and where to follow it."""
    jobs: list[dict[str, Any]] = []
    where = _job_path(request)
    for item in result.submitted:
        location = where.format(item.job.id)
        jobs.append(item.to_dict() | {"location": location})
    headers = {"Location": jobs[0]["location"]} if jobs else {}
    body = {"jobs": jobs, "errors": result.errors}
    return JSONResponse(body, status_code=202, headers=headers)


def _read_upload(
    request: Request, credentials: Credentials, next_chunk: Callable[[], bytes]
) -> tuple[Principal, AddResult]:
    """Check the token and the submission limit, then store and record the upload:
    all in one worker thread, before any body is read."""
    who = submitter(request, credentials)
    settings = request.app.state.config.settings
    stored, fields = _store_parts(request, next_chunk)
    return who, add_uploads(settings, stored, _options(who, fields))


def _store_parts(
    request: Request, next_chunk: Callable[[], bytes]
) -> tuple[list[StoredUpload], dict[str, str]]:
    """Store every file part as it streams in; the files and the form's fields."""
    settings = request.app.state.config.settings
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FILES * settings.max_file_bytes + 2**20:
        raise TooLargeError("the upload is over the size limit (INGESTQ_MAX_FILE_MB)")
    reader = MultipartReader(request.headers.get("content-type", ""), next_chunk)
    stored: list[StoredUpload] = []
    fields: dict[str, str] = {}
    for part in reader.parts():
        if part.name == "file":
            if len(stored) == MAX_FILES:
                raise TooLargeError(f"at most {MAX_FILES} files in one request")
            name = clean_name(part.filename)
            capped = CappedPDF(reader.read_part, name, settings.max_file_bytes)
            digest, size = store_upload(settings, capped)  # type: ignore[arg-type]
            stored.append(StoredUpload(name, digest, size))
        elif part.name in FIELDS:
            fields[part.name] = reader.read_field(part.name)
    return stored, fields


def _inline(request: Request) -> bool:
    """Whether to handle this upload on the event loop, without a thread: a small body
    (declared) when every backend is on this machine.

    Under the GIL an upload's thread buys nothing while its work is all local, and
    costs the loop a wake-up for every piece of body; handled in the loop, uploads
    run one after another, in order, which keeps the tail short (docs/api.md,
    Performance). A body is read whole first, so only small ones: at most
    :data:`INLINE_MAX`, and not past the file cap by more than a form's overhead,
    so an oversized file is still refused while it streams, unread.
    """
    settings = request.app.state.config.settings
    if settings.database_url or settings.queue_url:
        return False  # a network round trip would stall every other request
    declared = request.headers.get("content-length", "")
    limit = min(INLINE_MAX, settings.max_file_bytes + FORM_OVERHEAD)
    return declared.isdigit() and int(declared) <= limit


async def _on_loop_unless_busy(work: Callable[[], T]) -> T:
    """``work`` on the loop if the state database's write turn comes at once; in a
    thread if another writer holds it (nothing was written then, so it starts over)."""
    try:
        with without_waiting():
            return work()
    except WriterBusy:
        return await anyio.to_thread.run_sync(work)


async def _inline_upload(request: Request, credentials: Credentials) -> JSONResponse:
    """The whole upload on the event loop: the token first, then the body, read whole."""
    who = await _on_loop_unless_busy(lambda: submitter(request, credentials))
    form_boundary(request.headers.get("content-type", ""))  # a 400 before the body is read
    pieces: list[bytes] = []
    size, declared = 0, int(request.headers["content-length"])
    async for piece in request.stream():
        pieces.append(piece)
        size += len(piece)
        if size > declared:  # the HTTP parser holds a body to its length; still
            raise TooLargeError("the upload is longer than its Content-Length")
    body = iter([b"".join(pieces)])
    pieces.clear()
    stored, fields = _store_parts(request, lambda: next(body, b""))
    settings = request.app.state.config.settings
    options = _options(who, fields)
    result = await _on_loop_unless_busy(lambda: add_uploads(settings, stored, options))
    return _accepted(request, who, result)


@router.post(
    "/documents",
    status_code=202,
    responses=SUBMITTED,
    openapi_extra={"requestBody": UPLOAD_BODY},
    summary="Upload PDFs (multipart field `file`, repeatable)",
)
async def post_documents(request: Request, credentials: Credentials) -> JSONResponse:
    """Stream each PDF to the blob store and queue a job for it; 202 at once.

    A file over INGESTQ_MAX_FILE_MB answers 413 and one that does not start with
    %PDF- answers 415, as soon as it is seen: the rest of the body is not read
    (a body of 2 MiB or less may be read whole first).
    """
    if _inline(request):
        return await _inline_upload(request, credentials)
    body = request.stream().__aiter__()

    async def pull() -> bytes:
        # Gather uvicorn's pieces (64 KB or less) into one handoff: every hop from
        # the thread to the event loop and back costs the loop a thread wake-up,
        # which py-spy showed to be a tenth of its time under 20 uploads.
        pieces: list[bytes] = []
        size = 0
        async for piece in body:
            pieces.append(piece)
            size += len(piece)
            if size >= HANDOFF:
                break
        return b"".join(pieces)

    def next_chunk() -> bytes:
        return anyio.from_thread.run(pull)

    # The token and the limit are checked in the upload's thread, not by a dependency
    # of their own: each hop to a thread costs the event loop a wake-up and a task.
    who, result = await anyio.to_thread.run_sync(_read_upload, request, credentials, next_chunk)
    return _accepted(request, who, result)


class UrlsIn(BaseModel):
    urls: list[str] = Field(min_length=1, max_length=1000, description="Pages to scrape.")
    collection: str = "default"
    callback: str | None = None
    delay: str | None = None
    force: bool = False


@router.post("/urls", status_code=202, responses=SUBMITTED, summary="Queue web pages")
def post_urls(request: Request, body: UrlsIn, who: Submitter) -> JSONResponse:
    """Queue URLs to scrape, checked as `scrape` checks them; 202 at once."""
    options = _options(
        who,
        {
            "collection": body.collection,
            "callback": body.callback or "",
            "delay": body.delay or "",
            "force": str(body.force),
        },
    )
    settings = request.app.state.config.settings
    if not body.urls:
        raise UsageError("name at least one URL")
    return _accepted(request, who, scrape_urls(settings, body.urls, options))
