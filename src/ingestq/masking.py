"""Passwords out of sight: URLs as logs, errors, ``status`` and ``doctor`` show them.

Standard library only, so every layer may use it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def mask(raw: str) -> str:
    """``raw`` with any password in it replaced by ``***``."""
    try:
        parts = urlsplit(raw.strip())
        if parts.password is None:
            return raw
    except ValueError:
        return raw.split("@", 1)[-1] if "@" in raw else raw
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def scrub(text: str, *urls: str | None) -> str:
    """``text`` (a driver's error message, say) with the password of each URL masked."""
    for url in urls:
        if not url:
            continue
        try:
            password = urlsplit(url.strip()).password
        except ValueError:
            continue
        if password:
            text = text.replace(url, mask(url)).replace(password, "***")
    return text
