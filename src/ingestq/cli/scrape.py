"""``ingestq scrape``."""

from __future__ import annotations

from typing import Annotated

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
)
from ingestq.config import DEFAULT_COLLECTION, load_settings
from ingestq.submit import ChunkOptions, not_before, read_list, scrape_urls


@app.command()
def scrape(
    urls: Annotated[
        list[str] | None,
        typer.Argument(metavar="URL...", help="http or https URLs.", show_default=False),
    ] = None,
    from_file: FromFile = None,
    collection: Collection = DEFAULT_COLLECTION,
    force: Force = False,
    chunk_tokens: Chunking = None,
    chunk_overlap: Overlap = None,
    delay: Delay = None,
    at: At = None,
    callback: Callback = None,
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """Queue web pages (HTML, PDF or plain text) for ingestion and return at once.

    The worker fetches each URL politely (robots.txt, one request at a time per
    host, INGESTQ_HOST_DELAY between them) and safely: private, loopback and
    link-local addresses are refused unless INGESTQ_ALLOW_PRIVATE_NETWORKS=1.

    Exit status: 0 when every URL was queued, 1 when some were not, 2 when none was.

    Example: ingestq scrape https://docs.example.org/guide/install.html
    """
    entries = [*(urls or []), *(read_list(from_file) if from_file else [])]
    result = scrape_urls(
        load_settings(),
        entries,
        collection=collection,
        force=force,
        chunking=ChunkOptions(tokens=chunk_tokens, overlap=chunk_overlap),
        start_at=not_before(delay, at),
        callback=callback,
    )
    render.submitted(result, as_json, wait)
