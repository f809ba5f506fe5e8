"""The Typer application object and what every command shares."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ingestq",
    help="Turn documents into a searchable vector store, in the background.",
    no_args_is_help=True,
    add_completion=False,
    # Our errors are caught once in ingestq.cli.main; bugs keep plain tracebacks.
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
