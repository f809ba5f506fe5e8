"""The web page and the API docs: files shipped in the package, nothing from a CDN.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, and no package we depend
on ships its assets, so ``/docs`` here is a small page of our own
(``static/docs.html``) that reads ``/openapi.json`` and lists every endpoint
with its parameters and responses.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"

#: Everything the pages load comes from this server.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=HEADERS)


@router.get("/docs")
def docs() -> FileResponse:
    return FileResponse(STATIC / "docs.html", headers=HEADERS)
