"""Rendering helpers: Rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped or captured output has no screen to fit: don't fold it at 80 columns.
_WIDE = 240
out = Console(highlight=False, width=None if sys.stdout.isatty() else _WIDE)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _WIDE)

STATE_STYLES = {
    "queued": "cyan",
    "processing": "yellow",
    "retrying": "magenta",
    "completed": "green",
    "failed": "red",
    "cancelled": "dim",
}


def print_json(data: Any) -> None:
    # Plain write, not Rich: scripts need exact JSON, unwrapped and uncoloured.
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def state(value: str) -> str:
    return f"[{STATE_STYLES.get(value, 'white')}]{value}[/]"


def age(iso: str | None, now: datetime | None = None) -> str:
    """'4s', '12m', '3h', '2d': how long ago ``iso`` was."""
    if not iso:
        return ""
    then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def until(iso: str, now: datetime | None = None) -> str:
    """'14s', '3m', ...: how long until ``iso``; "" if it is past."""
    then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = int((then - (now or datetime.now(UTC))).total_seconds())
    if seconds <= 0:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(*columns: str, title: str | None = None) -> Table:
    t = Table(title=title, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        # Ids are for copying: never wrap them.
        t.add_column(column, overflow="fold", no_wrap=column in ("job", "id", "at"))
    return t


def short_source(source: str, width: int = 48) -> str:
    """The tail of a long path or URL, which is the part that tells sources apart."""
    return source if len(source) <= width else "…" + source[-(width - 1) :]


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def submitted(result: Any, as_json: bool, wait: bool = False) -> None:
    """Print what ``add``/``scrape`` queued, then (``wait``) follow it to the end.

    Exits 1 if some entries were refused or, when waiting, if a job failed.
    """
    import typer

    from ingestq.errors import EXIT_FAILURE

    for error in result.errors:
        warn(error)
    if wait:
        from ingestq.cli.wait import wait_for

        if not as_json:
            _submitted_table(result)
        wait_for(result, as_json)
    elif as_json:
        print_json([s.to_dict() for s in result.submitted])
    else:
        _submitted_table(result)
    if result.errors:
        raise typer.Exit(EXIT_FAILURE)


def _submitted_table(result: Any) -> None:
    t = table("job", "source", "state")
    for s in result.submitted:
        note = f" (duplicate of {s.duplicate_of})" if s.duplicate_of else ""
        if s.duplicate_of and s.job.state == "failed":
            note = " before, on the same content: `ingestq retry` or `add --force` tries again"
        t.add_row(s.job.id, escape(short_source(s.job.source)), state(s.job.state) + note)
    out.print(t)
