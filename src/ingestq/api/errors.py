"""The one exception tree, mapped to HTTP statuses: ``{"error": {"code", "message"}}``.

No traceback ever reaches a client: an error we did not foresee is logged here
and answered as a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ingestq import errors

log = logging.getLogger("ingestq.api")

#: Checked in order: the first class an error is an instance of decides.
STATUSES: list[tuple[type[errors.IngestqError], int, str]] = [
    (errors.AuthError, 401, "unauthorized"),
    (errors.NotFoundError, 404, "not_found"),
    (errors.TooLargeError, 413, "too_large"),
    (errors.NotPDFError, 415, "unsupported_media_type"),
    (errors.RateLimitedError, 429, "rate_limited"),
    (errors.NoLLMError, 501, "no_llm"),
    (errors.UnreachableError, 503, "unavailable"),
    (errors.ConfigError, 500, "misconfigured"),
    (errors.UsageError, 400, "bad_request"),
    (errors.ConflictError, 409, "conflict"),
    (errors.ModelMismatchError, 409, "model_mismatch"),
    (errors.StateBusyError, 503, "unavailable"),
    (errors.StoreUnavailableError, 503, "unavailable"),
    (errors.QueueError, 503, "unavailable"),
    (errors.LLMError, 502, "llm_failed"),
    (errors.Interrupted, 503, "unavailable"),
]

#: Names the API's clients use for the core's parameters (see ``UsageError``).
PARAMS = {"all_failed": "all_failed", "states": "state", "at": "at", "delay": "delay"}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def status_of(exc: errors.IngestqError) -> tuple[int, str]:
    for kind, status, code in STATUSES:
        if isinstance(exc, kind):
            return status, code
    return 500, "failed"


def response_for(exc: errors.IngestqError) -> JSONResponse:
    status, code = status_of(exc)
    message = exc.worded(PARAMS) if isinstance(exc, errors.UsageError) else str(exc)
    headers = {}
    if isinstance(exc, errors.RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500:
        log.warning("%s: %s", type(exc).__name__, message)
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def _ingestq(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.IngestqError)
    return response_for(exc)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for item in exc.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query"))
        problems.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
    return JSONResponse(error_body("invalid_request", "; ".join(problems)), status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal", "internal error"), status_code=500)


def install(app: FastAPI) -> None:
    """Answer every error as JSON with the right status."""
    app.add_exception_handler(errors.IngestqError, _ingestq)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _unexpected)
