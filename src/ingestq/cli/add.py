"""``ingestq add``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import (
    At,
    Callback,
    Chunking,
    Collection,
    Delay,
    Force,
    FromFile,
    Json,
    Overlap,
    Wait,
    submit_options,
)
from ingestq.cli.wait import report_submitted
from ingestq.config import DEFAULT_COLLECTION, load_settings
from ingestq.errors import UsageError
from ingestq.ops.inputs import SubmitOptions, read_list
from ingestq.ops.submit import add_paths

if TYPE_CHECKING:
    from ingestq.ops.sync import SyncResult


@app.command()
def add(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATH...",
            help="PDF files, directories (searched recursively) or quoted glob patterns.",
            show_default=False,
        ),
    ] = None,
    from_file: FromFile = None,
    collection: Collection = DEFAULT_COLLECTION,
    force: Force = False,
    chunk_tokens: Chunking = None,
    chunk_overlap: Overlap = None,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync",
            help="Mirror the directory: also remove the chunks of PDFs deleted from it.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="With --sync: print what would change, change nothing."),
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="With --sync: let an empty directory remove everything.",
        ),
    ] = False,
    checksum: Annotated[
        bool,
        typer.Option(
            "--checksum",
            help="With --sync: read and hash every file, not only those whose size,"
            " times or inode changed.",
        ),
    ] = False,
    delay: Delay = None,
    at: At = None,
    callback: Callback = None,
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """Queue PDFs for ingestion and return at once, with one job per document.

    Each file is checked (readable, a real PDF, within INGESTQ_MAX_FILE_MB) and
    copied into the ingestq home, so the original may move afterwards. Content
    that is already queued or ingested in the collection is not queued twice.
    A worker (`ingestq worker`) does the rest.

    With --sync DIR, the collection mirrors the directory: new and changed PDFs
    are ingested, unchanged ones skipped, and the chunks of PDFs deleted since
    the last sync removed. A file is read only when its size, times or inode
    differ from what the last sync saw (or it changed within a second of that
    sync); --checksum reads and hashes every file. A missing or empty directory
    removes nothing unless --allow-empty is given; --dry-run only prints the plan.

    Exit status: 0 when every path was queued, 1 when some were not, 2 when none was.

    Example: ingestq add report.pdf manuals/ "papers/*.pdf"
    """
    entries = [*(paths or []), *(read_list(from_file) if from_file else [])]
    options = submit_options(collection, force, chunk_tokens, chunk_overlap, delay, at, callback)
    if sync or dry_run or allow_empty or checksum:
        _sync(entries, options, sync, (dry_run, allow_empty, checksum), as_json)
        return
    report_submitted(add_paths(load_settings(), entries, options), as_json, wait)


def _sync(
    entries: list[str],
    options: SubmitOptions,
    sync: bool,
    flags: tuple[bool, bool, bool],
    as_json: bool,
) -> None:
    from ingestq.ops.sync import sync_directory

    dry_run, allow_empty, checksum = flags
    if not sync:
        raise UsageError("--dry-run, --allow-empty and --checksum go with --sync")
    if len(entries) != 1:
        raise UsageError("--sync takes exactly one directory")
    result = sync_directory(
        load_settings(),
        entries[0],
        options,
        dry_run=dry_run,
        allow_empty=allow_empty,
        checksum=checksum,
    )
    _show_sync(result, dry_run, as_json)


def _show_sync(result: SyncResult, dry_run: bool, as_json: bool) -> None:
    for problem in result.skipped:
        render.warn(problem)
    if as_json:
        render.print_json(
            {
                "dry_run": dry_run,
                **result.summary(),
                "hashed": result.hashed,
                "plan": {
                    "added": result.added,
                    "changed": result.changed,
                    "unchanged": result.unchanged,
                    "removed": result.removed,
                    "failed_before": result.failed_before,
                },
                "jobs": [s.to_dict() for s in result.submitted.submitted],
                "skipped": result.skipped,
            }
        )
        return
    counts = ", ".join(
        f"{n} {k.replace('_', ' ')}"
        for k, n in result.summary().items()
        if n or k != "failed_before"
    )
    render.out.print(("would sync: " if dry_run else "synced: ") + counts)
    if result.failed_before:
        render.warn(
            f"{len(result.failed_before)} unchanged file(s) failed before and were skipped;"
            " see `ingestq status --state failed`, then `ingestq retry` or `add --force`"
        )
    if dry_run:
        for label in ("added", "changed", "removed"):
            for path in getattr(result, label):
                render.out.print(f"  {label:<8} {render.text(path)}")
    elif result.submitted.submitted:
        report_submitted(result.submitted, as_json=False)
