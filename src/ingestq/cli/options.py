"""Options that several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

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
