"""``ingestq doctor``."""

from __future__ import annotations

from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import Json
from ingestq.config import load_settings
from ingestq.errors import EXIT_FAILURE

_STYLES = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


@app.command()
def doctor(
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.1, max=60, metavar="SECONDS", help="How long each server may take."
        ),
    ] = 3.0,
    embed: Annotated[
        bool,
        typer.Option("--embed", help="Also load the model and embed a probe text (seconds)."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Check every backend this configuration names, one row each.

    state: the SQLite file or the PostgreSQL server (URL shown with its password
    masked), its version, the schema's version against this ingestq's, and how
    long connecting took. queue: the Huey file or Redis, its version, its ping
    time and the messages pending. vectors: embedded Chroma or the Chroma
    server, its version and answer time, its collections, and whether each was
    built with the configured model. blobs: where stored copies live. model:
    the configured embedding model, where it loads from, and whether its files
    and tokenizer load offline (--embed also embeds a text). device: where a
    worker here embeds (INGESTQ_DEVICE: cuda, mps or the CPU), its memory, the
    precision and the batch; torch is asked only on a host with a GPU driver,
    so the check is instant elsewhere. workers: the
    workers seen within a lease (host:pid and when).

    Each check has a short timeout: a server that does not answer fails its own
    row in seconds and the others still run. Nothing is created or migrated.
    Exit 0 when no check failed, 1 otherwise. --json prints
    {"checks": [...], "ok": true|false}.

    Example: ingestq doctor --json
    """
    from ingestq.ops.doctor import doctor as run

    report = run(load_settings(), timeout_s=timeout, embed=embed)
    if as_json:
        render.print_json(report.to_dict())
    else:
        # One line a check, never folded: a failure reads as one line, whatever its length.
        for c in report.checks:
            style = _STYLES.get(c.status, "white")
            ms = f" ({c.latency_ms:.0f} ms)" if c.latency_ms is not None else ""
            render.out.print(
                f"[{style}]{c.status:<4}[/] {c.name:<8} {render.text(c.where)}:"
                f" {render.text(c.summary)}{ms}",
                soft_wrap=True,
            )
        failed = [c.name for c in report.checks if not c.ok]
        render.out.print(
            f"{len(failed)} check(s) failed: {', '.join(failed)}" if failed else "all checks passed"
        )
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)
