"""``ingestq serve``: the HTTP API and the web page."""

from __future__ import annotations

import ipaddress
import os
import sys
from typing import Annotated, Any

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.config import load_settings
from ingestq.errors import UsageError

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (beyond loopback: tokens only).")
    ] = LOOPBACK,
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port.")] = 8000,
    cors_origin: Annotated[
        str | None,
        typer.Option(
            "--cors-origin",
            metavar="ORIGIN",
            show_default=False,
            help="Let pages from this one origin call the API (https://app.example.com).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            max=64,
            help="Server processes sharing the port: more cores for uploads (try one a core).",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API and the web page until Ctrl-C.

    The API (docs at /docs, schema at /openapi.json) and the page at / call the
    same core as the CLI. Requests carry `Authorization: Bearer <token>` from
    `ingestq tokens create`; each token sees only its owner's jobs and
    collections. With no token configured, serve listens on 127.0.0.1 only and
    every request acts as the local admin; --host beyond loopback needs tokens.
    Run `ingestq worker` beside it to process the jobs. One server process
    uses one core; --workers N runs N, which share the port and the rate
    limits (kept in the state database).

    Example: ingestq serve --port 8000 --workers 2
    """
    from ingestq.ops.tokens import tokens_configured

    settings = load_settings()
    public = not is_loopback(host)
    if not tokens_configured(settings):
        if public:
            raise UsageError(
                f"--host {host} needs tokens: create one with `ingestq tokens create"
                " --owner NAME` first (without tokens, serve listens on 127.0.0.1 only)"
            )
        render.err.print(
            "no tokens configured: listening on 127.0.0.1 only, and every request acts as"
            " the local admin (`ingestq tokens create --owner NAME` to require tokens)"
        )
    _run(settings, host, port, public, cors_origin, workers)


def _run(
    settings: object, host: str, port: int, public: bool, cors: str | None, workers: int
) -> None:
    # Imported here: the web stack costs `add` and `status` nothing.
    import uvicorn

    from ingestq.api import app as api_app
    from ingestq.api.processes import run_processes
    from ingestq.config import Settings

    assert isinstance(settings, Settings)
    if cors and not cors.startswith(("http://", "https://")):
        raise UsageError("--cors-origin must be an origin such as https://app.example.com")
    shown = f"[{host}]" if ":" in host else host
    processes = f", {workers} processes" if workers > 1 else ""

    def ready() -> None:
        render.err.print(
            f"serving on http://{shown}:{port}/ (API docs at /docs{processes}); Ctrl-C stops"
        )
        sys.stderr.flush()

    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 3,
    }
    if workers == 1:
        ready()
        app = api_app.create_app(api_app.ServeConfig(settings, public, cors))
        uvicorn.run(app, host=host, port=port, **options)
        return
    # Each process builds its own application from an import string, and learns
    # what serve was told from the environment it inherits.
    os.environ[api_app.PUBLIC_ENV] = "1" if public else "0"
    os.environ[api_app.CORS_ENV] = cors or ""
    factory = f"{api_app.__name__}:{api_app.from_environment.__name__}"
    options |= {"app": factory, "factory": True}
    run_processes(host, port, workers, options, ready, lambda line: render.err.print(line))
