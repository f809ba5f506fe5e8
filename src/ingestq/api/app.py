"""The application: its settings, its routes, its errors, its limits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from ingestq.__version__ import __version__
from ingestq.api import auth, documents, errors, jobs, memory, metrics, search, web
from ingestq.config import Settings, load_settings
from ingestq.errors import IngestqError
from ingestq.ops import health

log = logging.getLogger("ingestq")

#: State-database connections the server holds open, shared by its request threads.
STATE_CONNECTIONS = 8

#: How ``serve`` tells the processes of ``--workers N`` (each calls :func:`from_environment`)
#: what it was told beyond the settings, which each loads itself.
PUBLIC_ENV = "INGESTQ_SERVE_PUBLIC"
CORS_ENV = "INGESTQ_SERVE_CORS_ORIGIN"

DESCRIPTION = """\
Upload documents and follow their jobs; search and ask what was ingested.

Send `Authorization: Bearer <token>` (from `ingestq tokens create`). A token
sees only its owner's jobs and collections; another owner's job answers 404.
Errors are `{"error": {"code": ..., "message": ...}}`.
"""


@dataclass(frozen=True)
class ServeConfig:
    """What ``ingestq serve`` was told."""

    settings: Settings
    #: Listening beyond loopback: then every request needs a token, always.
    public: bool = False
    cors_origin: str | None = None


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Hold one state-database handle and one job-queue handle for the server's life:
    opening them per request (a connection on SQLite, a pool on PostgreSQL; on the
    SQLite queue, a schema check that syncs the disk) cost more than most requests."""
    settings = app.state.config.settings
    async with AsyncExitStack() as stack:
        for what, hold in (
            ("the state database", lambda: health.hold_state(settings, STATE_CONNECTIONS)),
            ("the job queue", lambda: health.hold_queue(settings)),
        ):
            try:
                stack.enter_context(hold())
            except IngestqError as exc:
                # Not fatal: /readyz says what is down, and each request opens its own.
                log.warning("%s is not reachable yet: %s", what, exc)
        yield


def create_app(config: ServeConfig) -> FastAPI:
    """The FastAPI application for ``config``."""
    memory.keep_freed_memory()
    app = FastAPI(
        lifespan=_lifespan,
        title="ingestq",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # the default pulls Swagger UI from a CDN; see api/web.py
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.config = config
    errors.install(app)
    for module in (documents, jobs, search, auth, metrics, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    if config.cors_origin:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[config.cors_origin],
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            expose_headers=["Location", "Retry-After"],
        )
    return app


def from_environment() -> FastAPI:
    """The application as ``ingestq serve`` configured it, for each of its worker
    processes: uvicorn starts them with this import string, not with an object."""
    import os

    config = ServeConfig(
        load_settings(),
        # Fails closed: started some other way, it requires a token on every request.
        public=os.environ.get(PUBLIC_ENV) != "0",
        cors_origin=os.environ.get(CORS_ENV) or None,
    )
    return create_app(config)
