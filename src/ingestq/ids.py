"""Job ids: ULIDs, so ids sort by creation time and a short prefix is unique enough.

Twelve lines here rather than a ULID package: the id is made on the ``add`` path,
whose whole budget is a few tens of milliseconds, and the packages cost more than
that to import.
"""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    """A 26-character ULID: 48 bits of milliseconds, then 80 random bits."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))
