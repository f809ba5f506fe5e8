"""Durations and times as users write them: "90s", "10m", "2h", "1d", ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime

from ingestq.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str) -> float:
    """Seconds in ``text`` ("90s", "10m", "2h", "1d"; a bare number is seconds)."""
    raw = text.strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in _UNITS else (raw, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise UsageError(f"{option} {text!r}: use a number with s, m, h or d, like 10m") from None
    if seconds < 0:
        raise UsageError(f"{option} cannot be negative")
    return seconds


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r}: use ISO 8601, like 2026-12-01T02:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
