"""Rendering helpers: Rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ingestq.times import parse_time

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


#: Characters a terminal acts on instead of showing: C0 and C1 controls (ESC starts
#: sequences that clear the screen or write the clipboard), DEL, and the Unicode
#: controls that reorder text. Tab and newline are let through.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: str) -> str:
    """``value`` with every control character shown as an escape (``\\x1b``), not obeyed.

    Everything a document, a server or a file name contributes to human output
    passes through here: a PDF title could otherwise clear the screen or fill
    the clipboard.
    """
    return _CONTROLS.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), value)


def text(value: object) -> str:
    """``value`` as text safe to print: controls escaped, and Rich markup too."""
    return escape(clean(str(value)))


def print_json(data: Any) -> None:
    # Plain write, not Rich: scripts need exact JSON, unwrapped and uncoloured.
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def state(value: str) -> str:
    return f"[{STATE_STYLES.get(value, 'white')}]{value}[/]"


def age(iso: str | None, now: datetime | None = None) -> str:
    """'4s', '12m', '3h', '2d': how long ago ``iso`` was."""
    if not iso:
        return ""
    seconds = int(((now or datetime.now(UTC)) - parse_time(iso)).total_seconds())
    return span(max(0, seconds))


def until(iso: str, now: datetime | None = None) -> str:
    """'14s', '3m', ...: how long until ``iso``; "" if it is past."""
    seconds = int((parse_time(iso) - (now or datetime.now(UTC))).total_seconds())
    return span(seconds) if seconds > 0 else ""


def span(seconds: int) -> str:
    """'4s', '12m', '3h', '2d': a whole number of the largest unit that fits."""
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
    err.print(f"[yellow]warning:[/] {text(message)}", soft_wrap=True)
