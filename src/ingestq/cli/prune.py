"""``ingestq prune``."""

from __future__ import annotations

from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import Json
from ingestq.config import load_settings
from ingestq.times import parse_duration


@app.command()
def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Prune finished jobs older than this: 30d, 12h.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; delete nothing.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Delete the events and stored copies of finished jobs older than AGE.

    Job rows stay, so `status` still knows them. The stored copy behind a
    source's current chunks, and any copy a live job needs, is always kept.

    Example: ingestq prune --older-than 30d
    """
    from ingestq.ops.prune import prune as run_prune

    seconds = parse_duration(older_than, "older_than")
    result = run_prune(load_settings(), seconds, dry_run=dry_run)
    if as_json:
        render.print_json(
            {
                "dry_run": result.dry_run,
                "jobs": result.jobs,
                "events": result.events,
                "blobs": result.blobs,
                "bytes": result.bytes,
                "kept_blobs": result.kept_blobs,
            }
        )
        return
    verb = "would delete" if dry_run else "deleted"
    render.out.print(
        f"{result.jobs} old jobs: {verb} {result.events} events and {result.blobs} stored"
        f" copies ({result.bytes / 1e6:.1f} MB); kept {result.kept_blobs} that current"
        " sources or live jobs need"
    )
