"""Fetch web resources politely, safely and within limits.

One :class:`Fetcher` lives for the worker's life: it keeps the robots.txt cache
and the per-host clocks that space out requests. Every hop (robots.txt, each
redirect) goes through the same checks: the SSRF guard, robots.txt, the host
delay, the size cap on the decoded body, and one deadline for the whole fetch
that every network read honours (:mod:`ingestq.readers.http`). Failures become
job errors that say whether a retry could help.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from ingestq.__version__ import __version__
from ingestq.backoff import parse_retry_after
from ingestq.config import Settings
from ingestq.errors import BlockedURLError, PermanentJobError, TransientJobError
from ingestq.readers.decode import ACCEPT_ENCODING
from ingestq.readers.http import Exchange, Limits, Stop, exchange, make_pool
from ingestq.readers.netguard import NetGuard
from ingestq.readers.urls import check_url

MAX_REDIRECTS = 5
USER_AGENT = f"ingestq/{__version__}"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass
class Fetched:
    """A successful response, body decoded from gzip/deflate/brotli."""

    url: str  # the final URL, after redirects
    status: int
    content_type: str  # media type only, lower case
    charset: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _media_type(header: str) -> tuple[str, str | None]:
    media, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip("\"' ").lower()
    return media.strip().lower(), charset


def classify_status(status: int, reason: str, headers: dict[str, str] | None = None) -> None:
    """Raise the job error an HTTP status stands for; return for a success."""
    if 200 <= status < 300:
        return
    label = f"HTTP {status} {reason}".strip()
    if status in (408, 429) or status >= 500:
        wait = (
            parse_retry_after((headers or {}).get("retry-after")) if status in (429, 503) else None
        )
        raise TransientJobError(f"{label} (transient)", retry_after=wait)
    raise PermanentJobError(label)


class Fetcher:
    """An HTTP client with ingestq's rules; safe to share between worker threads."""

    def __init__(self, settings: Settings, guard: NetGuard | None = None) -> None:
        self.settings = settings
        self.guard = guard or NetGuard(settings.allow_private_networks)
        self.pool = make_pool(settings.connect_timeout_s, settings.read_timeout_s)
        self._robots: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._last_request: dict[str, float] = {}

    def close(self) -> None:
        self.pool.close()

    def _limits(self, stop: Stop | None) -> Limits:
        """One deadline for a whole fetch: robots.txt, every redirect, the body."""
        s = self.settings
        return Limits(
            deadline=time.monotonic() + s.fetch_timeout_s,
            timeout_s=s.fetch_timeout_s,
            max_bytes=s.max_download_bytes,
            limit=f"the {s.max_download_mb:g} MB download limit (INGESTQ_MAX_DOWNLOAD_MB)",
            stop=stop,
        )

    # -- the public calls -------------------------------------------------------
    def get(
        self, url: str, *, headers: dict[str, str] | None = None, stop: Stop | None = None
    ) -> Fetched:
        """GET ``url``, following up to five redirects, each one vetted like the first.

        ``stop`` is called while the fetch waits on the network; whatever it raises
        ends the fetch at once (a cancelled job, a worker shutting down).
        """
        limits = self._limits(stop)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            if problem := check_url(current):
                raise PermanentJobError(f"redirected to an unusable URL: {problem}")
            if not self.settings.ignore_robots and not self._robots_allow(current, limits):
                raise BlockedURLError(
                    f"robots.txt of {urlsplit(current).netloc} disallows {current} "
                    "(set INGESTQ_IGNORE_ROBOTS=1 to ignore robots.txt)"
                )
            got = self._request(current, limits, headers)
            if got.status in _REDIRECTS and "location" in got.headers:
                current = urljoin(current, got.headers["location"])
                continue
            return _fetched(current, got, conditional=bool(headers))
        raise PermanentJobError(f"too many redirects (more than {MAX_REDIRECTS})")

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST ``body`` to ``url`` under the same address rules; no redirects followed.

        For callbacks: no robots.txt, no host delay. Returns the status and reason.
        """
        if problem := check_url(url):
            raise PermanentJobError(problem)
        got = self._send(url, self._limits(None), headers, method="POST", content=body)
        return got.status, got.reason

    # -- robots.txt -------------------------------------------------------------
    def _robots_allow(self, url: str, limits: Limits) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = self._load_robots(origin, limits)
        rules = self._robots[origin]
        return rules is None or bool(rules.can_fetch(url, USER_AGENT))

    def _load_robots(self, origin: str, limits: Limits) -> Any:
        from protego import Protego

        got = self._request(origin + "/robots.txt", limits, None, robots=True)
        if 200 <= got.status < 300:
            return Protego.parse(got.body.decode("utf-8", "replace"))
        if got.status >= 500:
            # The site cannot say what it allows; try again later rather than guess.
            raise TransientJobError(
                f"robots.txt of {origin} answered HTTP {got.status} (transient)"
            )
        return None  # no robots.txt (or 4xx): everything is allowed

    def crawl_delay(self, url: str) -> float:
        parts = urlsplit(url)
        rules = self._robots.get(f"{parts.scheme}://{parts.netloc}")
        delay = rules.crawl_delay(USER_AGENT) if rules is not None else None
        return float(delay or 0.0)

    # -- one request ------------------------------------------------------------
    def _host_lock(self, netloc: str) -> threading.Lock:
        with self._lock:
            return self._host_locks.setdefault(netloc, threading.Lock())

    def _request(
        self, url: str, limits: Limits, headers: dict[str, str] | None, robots: bool = False
    ) -> Exchange:
        netloc = urlsplit(url).netloc.lower()
        # One request in flight per host, and a pause between them; both waits
        # end early if the fetch must (its deadline, a cancel).
        lock = self._host_lock(netloc)
        while not lock.acquire(timeout=min(limits.check(), 0.25)):
            pass
        try:
            gap = max(self.settings.host_delay_s, 0.0 if robots else self.crawl_delay(url))
            while (wait := self._last_request.get(netloc, -1e9) + gap - time.monotonic()) > 0:
                time.sleep(min(wait, 0.25, limits.check()))
            try:
                return self._send(url, limits, headers)
            finally:
                self._last_request[netloc] = time.monotonic()
        finally:
            lock.release()

    def _send(
        self,
        url: str,
        limits: Limits,
        headers: dict[str, str] | None,
        method: str = "GET",
        content: bytes | None = None,
    ) -> Exchange:
        target = self.guard.check(url)
        parts = urlsplit(url)
        address = f"[{target.address}]" if ":" in target.address else target.address
        pinned = parts._replace(netloc=f"{address}:{target.port}").geturl()
        sent = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING}
        sent |= {**(headers or {}), "Host": parts.netloc.rsplit("@", 1)[-1]}
        if content is not None:
            sent["Content-Length"] = str(len(content))
        return exchange(self.pool, method, pinned, sent, content, target.host, limits)


def _fetched(url: str, got: Exchange, *, conditional: bool) -> Fetched:
    """A final response as a :class:`Fetched`, or the job error its status stands for."""
    if got.status == 304 and conditional:  # our conditional GET: not modified
        return Fetched(url=url, status=304, content_type="", charset=None, body=b"",
                       headers=got.headers)  # fmt: skip
    classify_status(got.status, got.reason, got.headers)
    media, charset = _media_type(got.headers.get("content-type", ""))
    return Fetched(url=url, status=got.status, content_type=media, charset=charset,
                   body=got.body, headers=got.headers)  # fmt: skip
