"""The command line: Typer and Rich over the :mod:`ingestq` library.

Each command lives in its own module and calls one core function. Errors from
the core reach the user here, in :func:`main`, and nowhere else.
"""

from __future__ import annotations

import sys

from ingestq.cli import (  # noqa: F401 - importing registers the commands
    add,
    control,
    extract,
    scrape,
    search,
    status,
    worker,
)
from ingestq.cli.app import app
from ingestq.errors import IngestqError


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ingestq`` console script."""
    try:
        app(args=argv, prog_name="ingestq")
    except IngestqError as exc:
        from rich.markup import escape

        from ingestq.cli.render import err

        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
