"""URL checks that run at submit time: cheap, standard library only."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_url(raw: str) -> str:
    """Why ``raw`` cannot be scraped, or "" if it can."""
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"{raw}: not a valid URL ({exc})"
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return f"{raw}: only http and https URLs can be scraped"
    if not parts.hostname:
        return f"{raw}: the URL has no host"
    return ""


def normalize_url(raw: str) -> str:
    """Scheme and host lower-cased, default port and fragment dropped."""
    parts = urlsplit(raw.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username or parts.password:
        auth = parts.username or ""
        if parts.password:
            auth += f":{parts.password}"
        netloc = f"{auth}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
