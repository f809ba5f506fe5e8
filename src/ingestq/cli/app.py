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


class _Leaving:
    """Whether the command asked to skip the interpreter's teardown (see :func:`exit_at_once`)."""

    at_once = False


leaving = _Leaving()


def exit_at_once() -> None:
    """Let the process end without the interpreter's teardown once the command is done.

    Tearing down Chroma's client and ONNX Runtime takes longer than a whole
    search (about 0.2 s); a read-only command has nothing to flush but its
    output, so it may skip that. Only the console script honours it.
    """
    leaving.at_once = True
