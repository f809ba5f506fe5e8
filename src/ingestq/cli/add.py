"""``ingestq add``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.config import DEFAULT_COLLECTION, load_settings
from ingestq.errors import EXIT_FAILURE
from ingestq.submit import ChunkOptions, add_paths


@app.command()
def add(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH...",
            help="PDF files, directories (searched recursively) or quoted glob patterns.",
            show_default=False,
        ),
    ],
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to add to.")
    ] = DEFAULT_COLLECTION,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Queue a new job even if the same content is already ingested."
        ),
    ] = False,
    chunk_tokens: Annotated[
        int | None,
        typer.Option(
            help="Chunk size in model tokens (default: all the model reads).", show_default=False
        ),
    ] = None,
    chunk_overlap: Annotated[
        int | None,
        typer.Option(
            help="Overlap between chunks, in tokens (default: 1/8 of a chunk).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queue PDFs for ingestion and return at once, with one job per document.

    Each file is checked (readable, a real PDF, within INGESTQ_MAX_FILE_MB) and
    copied into the ingestq home, so the original may move afterwards. Content
    that is already queued or ingested in the collection is not queued twice.
    A worker (`ingestq worker`) does the rest.

    Exit status: 0 when every path was queued, 1 when some were not, 2 when none was.

    Example: ingestq add report.pdf manuals/ "papers/*.pdf"
    """
    result = add_paths(
        load_settings(),
        paths,
        collection=collection,
        force=force,
        chunking=ChunkOptions(tokens=chunk_tokens, overlap=chunk_overlap),
    )
    for error in result.errors:
        render.warn(error)
    if as_json:
        render.print_json([s.to_dict() for s in result.submitted])
    else:
        t = render.table("job", "source", "state")
        for s in result.submitted:
            note = f" (duplicate of {s.duplicate_of})" if s.duplicate_of else ""
            source = escape(render.short_source(s.job.source))
            t.add_row(s.job.id, source, render.state(s.job.state) + note)
        render.out.print(t)
    if result.errors:
        raise typer.Exit(EXIT_FAILURE)
