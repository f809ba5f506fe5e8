"""The command line: Typer and Rich over the :mod:`ingestq` library.

Each command lives in its own module and calls one core function. Errors from
the core reach the user here, in :func:`main`, and nowhere else.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import NoReturn

from ingestq.cli import (  # noqa: F401 - importing registers the commands
    add,
    ask,
    control,
    extract,
    inventory,
    prune,
    scrape,
    search,
    stats,
    status,
    watch,
    worker,
)
from ingestq.cli.app import app
from ingestq.errors import EXIT_FAILURE, IngestqError


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ingestq`` console script."""
    try:
        app(args=argv, prog_name="ingestq")
    except IngestqError as exc:
        _fail(str(exc), exc.exit_code)
    except sqlite3.DatabaseError as exc:
        # A database that breaks mid-command (corrupt, locked past the timeout).
        _fail(f"the state database failed: {exc}", EXIT_FAILURE)


def _fail(message: str, code: int) -> NoReturn:
    from rich.markup import escape

    from ingestq.cli.render import err

    err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(code)
