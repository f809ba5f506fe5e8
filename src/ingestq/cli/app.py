"""The Typer application object and what every command shares."""

from __future__ import annotations

from typing import Any

import typer

_SETTINGS: dict[str, Any] = {
    "name": "ingestq",
    "help": "Turn documents into a searchable vector store, in the background.",
    "no_args_is_help": True,
    "add_completion": False,
    # Our errors are caught once in ingestq.cli.main; bugs keep plain tracebacks.
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}

app = typer.Typer(**_SETTINGS)


def app_for(argv: list[str]) -> typer.Typer:
    """The application to run ``argv`` with: the whole of :data:`app`, or, when
    ``argv`` names one plain command, an application of that command alone.

    Typer builds every command's options at each start, evaluating each
    signature: with twenty-odd commands that was a third of ``add``'s time.
    Help, groups and unknown words go to the whole application, so what they
    print does not change.
    """
    word = next((a for a in argv if not a.startswith("-")), None)
    chosen = [c for c in app.registered_commands if _name(c) == word]
    if not chosen:
        return app
    alone = typer.Typer(**_SETTINGS)
    alone.registered_commands = chosen
    # A callback keeps it a group, so the command's name is still the first word.
    alone.callback()(_group)
    return alone


def _group() -> None:
    pass


def _name(info: Any) -> str:
    return str(info.name or (info.callback.__name__ if info.callback else ""))


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
