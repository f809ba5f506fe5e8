"""Options that several commands share, declared once, and how the core's names read here."""

from __future__ import annotations

from typing import Annotated

import typer

from ingestq.ops.inputs import ChunkOptions, SubmitOptions, start_time

#: The core names a parameter by its Python name (see ``UsageError``); these are
#: the flags that set them, for its messages.
FLAGS = {
    "all_failed": "--failed",
    "allow_empty": "--allow-empty",
    "at": "--at",
    "callback": "--callback",
    "chunk_overlap": "--chunk-overlap",
    "chunk_tokens": "--chunk-tokens",
    "collection": "--collection",
    "concurrency": "--concurrency",
    "delay": "--delay",
    "k": "-k",
    "limit": "--limit",
    "mode": "--mode",
    "older_than": "--older-than",
    "since": "--since",
    "states": "--state",
}

Collection = Annotated[str, typer.Option("--collection", "-c", help="Collection to use.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Force = Annotated[
    bool,
    typer.Option("--force", help="Queue a new job even if the same document is already queued."),
]
FromFile = Annotated[
    str | None,
    typer.Option(
        "--from-file",
        "-f",
        metavar="FILE",
        help="Read entries from FILE, one a line ('-' for stdin; # comments).",
        show_default=False,
    ),
]
Chunking = Annotated[
    int | None,
    typer.Option(
        help="Chunk size in model tokens (default: all the model reads).", show_default=False
    ),
]
Overlap = Annotated[
    int | None,
    typer.Option(
        help="Overlap between chunks, in tokens (default: 1/8 of a chunk).", show_default=False
    ),
]
Delay = Annotated[
    str | None,
    typer.Option(
        "--delay",
        metavar="DURATION",
        help="Hold the jobs this long first: 90s, 10m, 2h, 1d.",
        show_default=False,
    ),
]
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="TIME",
        help="Hold the jobs until this ISO 8601 time (UTC if no zone).",
        show_default=False,
    ),
]
Callback = Annotated[
    str | None,
    typer.Option(
        "--callback",
        metavar="URL",
        help="POST each job's outcome to URL when it completes or fails for good "
        "(default: INGESTQ_CALLBACK_URL).",
        show_default=False,
    ),
]
Wait = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="Block until the jobs end (exit 1 if any failed); with no worker running, "
        "run them here.",
    ),
]
States = Annotated[
    list[str] | None,
    typer.Option("--state", "-s", help="Only jobs in this state (repeatable).", show_default=False),
]
CollectionFilter = Annotated[
    str | None, typer.Option("--collection", "-c", help="Only this collection.")
]


def submit_options(
    collection: str,
    force: bool,
    chunk_tokens: int | None,
    chunk_overlap: int | None,
    delay: str | None,
    at: str | None,
    callback: str | None,
) -> SubmitOptions:
    """The options ``add`` and ``scrape`` share, as the core takes them."""
    return SubmitOptions(
        collection=collection,
        force=force,
        chunking=ChunkOptions(tokens=chunk_tokens, overlap=chunk_overlap),
        start_at=start_time(delay, at),
        callback=callback,
    )
