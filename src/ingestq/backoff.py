"""When to try a failed job again.

Transient failures are retried with exponential backoff and jitter. The
defaults follow the design ingestq replaces: three retries, about 15 s, then
about a minute, then about five minutes. A server's ``Retry-After`` wins over
the backoff, within an hour.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: Growth of each delay over the first: 15 s, 1 min, 5 min, then 25 min, ...
_MULTIPLIERS = (1.0, 4.0, 20.0)
JITTER = 0.2
RETRY_AFTER_CAP_S = 3600.0


def backoff_delay(retry: int, base_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (1-based), with ±20% jitter."""
    if retry <= len(_MULTIPLIERS):
        multiplier = _MULTIPLIERS[retry - 1]
    else:
        multiplier = _MULTIPLIERS[-1] * 5.0 ** (retry - len(_MULTIPLIERS))
    # Jitter spreads out jobs that failed together (a site went down), so their
    # retries do not arrive together either.
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return base_s * multiplier * spread


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta or HTTP date), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


def next_delay(
    attempts: int, max_retries: int, base_s: float, retry_after: float | None = None
) -> float | None:
    """The wait before the next attempt after ``attempts`` failed ones; None if spent."""
    if attempts > max_retries:
        return None
    if retry_after is not None:
        return retry_after
    return backoff_delay(attempts, base_s)


def short_delay(retry: int, base_s: float = 0.25, cap_s: float = 5.0) -> float:
    """Seconds before retry number ``retry`` (1-based) of one call to a server that
    went away for a moment (a restart): doubling from ``base_s`` up to ``cap_s``,
    with ±20% jitter so the workers of a fleet do not knock together."""
    return min(base_s * 2.0 ** (retry - 1), cap_s) * random.uniform(1 - JITTER, 1 + JITTER)
