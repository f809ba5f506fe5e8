"""The command line: Typer and Rich over the :mod:`ingestq` library.

Each command lives in its own module and calls the core. Errors from the core
reach the user here, in :func:`main`, and nowhere else.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from ingestq.cli import (  # noqa: F401 - importing registers the commands
    add,
    ask,
    control,
    doctor,
    extract,
    inventory,
    migrate,
    prune,
    scrape,
    search,
    serve,
    stats,
    status,
    tokens,
    watch,
    worker,
)
from ingestq.cli.app import app_for, leaving
from ingestq.cli.options import FLAGS
from ingestq.errors import IngestqError, UsageError


def entry() -> None:
    """The ``ingestq`` console script and ``python -m ingestq``: :func:`main`, then exit."""
    try:
        main()
    except SystemExit as done:
        if leaving.at_once:
            sys.stdout.flush()
            sys.stderr.flush()
            code = done.code if isinstance(done.code, int) else int(done.code is not None)
            os._exit(code)
        raise


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ingestq`` console script."""
    args = sys.argv[1:] if argv is None else argv
    try:
        app_for(args)(args=args, prog_name="ingestq")
    except UsageError as exc:
        # The core names parameters; here they are the flags the user typed.
        _fail(exc.worded(FLAGS), exc.exit_code)
    except IngestqError as exc:
        _fail(str(exc), exc.exit_code)


def _fail(message: str, code: int) -> NoReturn:
    from ingestq.cli import render

    render.err.print(f"[red]error:[/] {render.text(message)}", soft_wrap=True)
    sys.exit(code)
