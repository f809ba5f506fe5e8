"""The API's rate limits: a token bucket per token and kind, kept in the state database.

``per_min`` requests at once, refilled at ``per_min`` a minute. The buckets live
in the state database (:mod:`ingestq.state.ratelimits`), not in a process: every
``serve`` process on the same database (``serve --workers N``, or servers on
several hosts sharing PostgreSQL) takes from the same bucket, and a restart
forgets nothing. Each limited request costs one atomic upsert.
"""

from __future__ import annotations

import math
import time

from ingestq.config import Settings
from ingestq.errors import RateLimitedError
from ingestq.state import open_state, ratelimits


def take(settings: Settings, scope: str, subject: str, per_min: int, what: str) -> None:
    """Spend one of ``subject``'s ``scope`` requests; :class:`RateLimitedError` with the
    whole seconds until the next is allowed (``Retry-After``) if none is left."""
    rate = per_min / 60.0
    db = open_state(settings)
    try:
        # Wall-clock time, not monotonic: the buckets outlive this process.
        taken = ratelimits.take(db, scope, subject, float(per_min), rate, time.time())
    finally:
        db.close()
    if not taken.granted:
        wait = max(1, math.ceil((1 - taken.tokens) / rate))
        raise RateLimitedError(
            f"too many {what} requests: at most {per_min} a minute; try again in {wait} s",
            retry_after=wait,
        )
