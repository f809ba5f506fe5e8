"""URL checks that run at submit time: cheap, standard library only."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ingestq.masking import mask

_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_url(raw: str) -> str:
    """Why ``raw`` cannot be scraped, or "" if it can (the reason never shows a password)."""
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"{mask(raw)}: not a valid URL ({exc})"
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return f"{mask(raw)}: only http and https URLs can be scraped"
    if not parts.hostname:
        return f"{mask(raw)}: the URL has no host"
    if parts.username is not None or parts.password is not None:
        # Stored, shown in status and sent in callbacks: a password has no place here.
        return f"{mask(raw)}: the URL holds credentials (user:password@); remove them"
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
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
