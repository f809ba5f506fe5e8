"""Signed callbacks: how ingestq signs them, and how a receiver checks them.

The header is ``Ingestq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``,
where the HMAC is over ``"<t>.<raw body>"`` under the shared key. Binding the
timestamp into the MAC lets a receiver refuse replays of an old delivery.
A receiver needs only this module (standard library alone)::

    from ingestq.webhooks import verify

    if not verify(request.body, request.headers["Ingestq-Signature"], [KEY, NEXT_KEY]):
        return 401
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Ingestq-Signature"


def sign(body: bytes, key: str, timestamp: int | None = None) -> str:
    """The ``Ingestq-Signature`` header value for ``body`` under ``key``."""
    if not key:
        raise ValueError("a signing key cannot be empty")
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(key, t, body)}"


def verify(body: bytes, header: str | None, keys: list[str], tolerance_s: float = 300) -> bool:
    """True if ``header`` signs ``body`` under any of ``keys`` within ``tolerance_s``.

    Any key may match, so a current and a next key can overlap while a key is
    rotated. The timestamp must be within ``tolerance_s`` of now, either way;
    every comparison takes constant time. Anything malformed (no header, a bad
    timestamp, a signature that is not hex) is False, never an exception; an
    empty key is a ``ValueError``, since it would let anyone sign.
    """
    if any(not key for key in keys):
        raise ValueError("a signing key cannot be empty")
    if not isinstance(header, str) or not isinstance(body, bytes | bytearray):
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(name, []).append(value)
    try:
        [stamp] = parts.get("t", [])
        t = int(stamp)
        fresh = abs(time.time() - t) <= tolerance_s
    except (ValueError, OverflowError):
        return False
    if not fresh:
        return False
    offered = [s.encode("utf-8", "replace") for s in parts.get("v1", [])]
    matched = False
    for key in keys:
        expected = _mac(key, t, bytes(body)).encode()
        for signature in offered:
            # No early exit: how long this takes must not tell which part matched.
            matched |= hmac.compare_digest(expected, signature)
    return matched


def _mac(key: str, t: int, body: bytes) -> str:
    return hmac.new(key.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
