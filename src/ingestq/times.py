"""Times and durations: the one format ingestq stores, and what users write.

Every timestamp ingestq stores or prints is ISO 8601 in UTC with milliseconds
and a ``Z`` (``2026-11-29T02:46:00.123Z``): such strings sort as the times they
stand for, so the state database compares them as text. :func:`format_time`
writes that format and :func:`parse_time` reads it back, along with any ISO
8601 time a user gives (one without a zone is taken as UTC).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from ingestq.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def format_time(when: datetime) -> str:
    """An aware datetime in the stored format."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time as an aware datetime; ValueError if it is not one."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def now() -> str:
    """Now, in the stored format."""
    return format_time(datetime.now(UTC))


def from_now(seconds: float) -> str:
    """``seconds`` from now (negative: ago), in the stored format."""
    return format_time(datetime.now(UTC) + timedelta(seconds=seconds))


def parse_duration(text: str, param: str) -> float:
    """Seconds in ``text`` ("90s", "10m", "2h", "1d"; a bare number is seconds).

    ``param`` names the parameter the text came from, for the error message.
    """
    raw = text.strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in _UNITS else (raw, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise UsageError(
            f"{{{param}}} {text!r}: use a number with s, m, h or d, like 10m", params=(param,)
        ) from None
    if not math.isfinite(seconds):
        raise UsageError(f"{{{param}}} {text!r}: use a finite number", params=(param,))
    if seconds < 0:
        raise UsageError(f"{{{param}}} cannot be negative", params=(param,))
    return seconds


def parse_user_time(text: str, param: str) -> datetime:
    """An ISO 8601 time a user gave; one without a zone is taken as UTC."""
    try:
        return parse_time(text)
    except ValueError:
        raise UsageError(
            f"{{{param}}} {text!r}: use ISO 8601, like 2026-12-01T02:00:00Z", params=(param,)
        ) from None


def ago(seconds: float) -> str:
    """The stored-format time ``seconds`` ago; "" (before every time) for an absurd age."""
    try:
        return from_now(-seconds)
    except OverflowError:
        return ""
