"""``ingestq scrape``."""

from __future__ import annotations

from typing import Annotated

import typer

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
from ingestq.ops.inputs import read_list
from ingestq.ops.submit import scrape_urls


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
    options = submit_options(collection, force, chunk_tokens, chunk_overlap, delay, at, callback)
    report_submitted(scrape_urls(load_settings(), entries, options), as_json, wait)
