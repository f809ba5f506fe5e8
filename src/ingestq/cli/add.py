"""``ingestq add``."""

from __future__ import annotations

from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import (
    At,
    Chunking,
    Collection,
    Delay,
    Force,
    FromFile,
    Json,
    Overlap,
)
from ingestq.config import DEFAULT_COLLECTION, load_settings
from ingestq.submit import ChunkOptions, add_paths, not_before, read_list


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
    delay: Delay = None,
    at: At = None,
    as_json: Json = False,
) -> None:
    """Queue PDFs for ingestion and return at once, with one job per document.

    Each file is checked (readable, a real PDF, within INGESTQ_MAX_FILE_MB) and
    copied into the ingestq home, so the original may move afterwards. Content
    that is already queued or ingested in the collection is not queued twice.
    A worker (`ingestq worker`) does the rest.

    Exit status: 0 when every path was queued, 1 when some were not, 2 when none was.

    Example: ingestq add report.pdf manuals/ "papers/*.pdf"
    """
    entries = [*(paths or []), *(read_list(from_file) if from_file else [])]
    result = add_paths(
        load_settings(),
        entries,
        collection=collection,
        force=force,
        chunking=ChunkOptions(tokens=chunk_tokens, overlap=chunk_overlap),
        start_at=not_before(delay, at),
    )
    render.submitted(result, as_json)
