"""Fetch web resources politely, safely and within limits.

One :class:`Fetcher` lives for the worker's life: it keeps the robots.txt cache
and the per-host clocks that space out requests. Every hop (robots.txt, each
redirect) goes through the same checks: the SSRF guard, robots.txt, the host
delay, the size cap and the deadline. Failures become job errors that say
whether a retry could help.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from ingestq.__version__ import __version__
from ingestq.backoff import parse_retry_after
from ingestq.config import Settings
from ingestq.errors import BlockedURLError, PermanentJobError, TransientJobError
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
        import httpx

        self.settings = settings
        self.guard = guard or NetGuard(settings.allow_private_networks)
        self._httpx = httpx
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,  # we follow by hand, checking every hop
        )
        self._robots: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._last_request: dict[str, float] = {}

    def close(self) -> None:
        self.client.close()

    # -- the public call --------------------------------------------------------
    def get(self, url: str, *, headers: dict[str, str] | None = None) -> Fetched:
        """GET ``url``, following up to five redirects, each one vetted like the first."""
        deadline = time.monotonic() + self.settings.fetch_timeout_s
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            if problem := check_url(current):
                raise PermanentJobError(f"redirected to an unusable URL: {problem}")
            if not self.settings.ignore_robots and not self._robots_allow(current, deadline):
                raise BlockedURLError(
                    f"robots.txt of {urlsplit(current).netloc} disallows {current} "
                    "(set INGESTQ_IGNORE_ROBOTS=1 to ignore robots.txt)"
                )
            status, reason, resp_headers, body = self._request(current, deadline, headers)
            if status in _REDIRECTS and "location" in resp_headers:
                current = urljoin(current, resp_headers["location"])
                continue
            if status == 304 and headers:  # our conditional GET: not modified
                return Fetched(
                    url=current,
                    status=304,
                    content_type="",
                    charset=None,
                    body=b"",
                    headers=resp_headers,
                )
            classify_status(status, reason, resp_headers)
            media, charset = _media_type(resp_headers.get("content-type", ""))
            return Fetched(
                url=current,
                status=status,
                content_type=media,
                charset=charset,
                body=body,
                headers=resp_headers,
            )
        raise PermanentJobError(f"too many redirects (more than {MAX_REDIRECTS})")

    # -- robots.txt -------------------------------------------------------------
    def _robots_allow(self, url: str, deadline: float) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = self._load_robots(origin, deadline)
        rules = self._robots[origin]
        return rules is None or bool(rules.can_fetch(url, USER_AGENT))

    def _load_robots(self, origin: str, deadline: float) -> Any:
        from protego import Protego

        status, _, _, body = self._request(origin + "/robots.txt", deadline, None, robots=True)
        if 200 <= status < 300:
            return Protego.parse(body.decode("utf-8", "replace"))
        if status >= 500:
            # The site cannot say what it allows; try again later rather than guess.
            raise TransientJobError(f"robots.txt of {origin} answered HTTP {status} (transient)")
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
        self, url: str, deadline: float, headers: dict[str, str] | None, robots: bool = False
    ) -> tuple[int, str, dict[str, str], bytes]:
        netloc = urlsplit(url).netloc.lower()
        # One request in flight per host, and a pause between them.
        with self._host_lock(netloc):
            gap = max(self.settings.host_delay_s, 0.0 if robots else self.crawl_delay(url))
            wait = self._last_request.get(netloc, -1e9) + gap - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                return self._send(url, deadline, headers)
            finally:
                self._last_request[netloc] = time.monotonic()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST ``body`` to ``url`` under the same address rules; no redirects followed.

        For callbacks: no robots.txt, no host delay. Returns the status and reason.
        """
        if problem := check_url(url):
            raise PermanentJobError(problem)
        deadline = time.monotonic() + self.settings.fetch_timeout_s
        status, reason, _, _ = self._send(url, deadline, headers, method="POST", content=body)
        return status, reason

    def _send(
        self,
        url: str,
        deadline: float,
        headers: dict[str, str] | None,
        method: str = "GET",
        content: bytes | None = None,
    ) -> tuple[int, str, dict[str, str], bytes]:
        httpx = self._httpx
        target = self.guard.check(url)
        parts = urlsplit(url)
        address = f"[{target.address}]" if ":" in target.address else target.address
        pinned = parts._replace(netloc=f"{address}:{target.port}").geturl()
        host_header = parts.netloc.rsplit("@", 1)[-1]
        request = self.client.build_request(
            method,
            pinned,
            content=content,
            headers={**(headers or {}), "Host": host_header},
            extensions={"sni_hostname": target.host},
        )
        with _http_errors(httpx, target.host, reading=False):
            response = self.client.send(request, stream=True)
        try:
            with _http_errors(httpx, target.host, reading=True):
                body = self._read_capped(response, deadline)
        finally:
            response.close()
        resp_headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status_code, response.reason_phrase, resp_headers, body

    def _read_capped(self, response: Any, deadline: float) -> bytes:
        cap = self.settings.max_download_bytes
        limit = f"the {self.settings.max_download_mb:g} MB download limit (INGESTQ_MAX_DOWNLOAD_MB)"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise PermanentJobError(f"the response is larger than {limit}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise PermanentJobError(f"the response is larger than {limit}")
            if time.monotonic() > deadline:
                raise TransientJobError(
                    f"download timed out after {self.settings.fetch_timeout_s:g} s (transient)"
                )
            chunks.append(chunk)
        return b"".join(chunks)


@contextmanager
def _http_errors(httpx: Any, host: str, *, reading: bool) -> Iterator[None]:
    """httpx's errors as job errors that say whether a retry could help."""
    try:
        yield
    except httpx.TimeoutException as exc:
        if reading:
            raise TransientJobError("timed out reading the response (transient)") from exc
        raise TransientJobError(f"timed out connecting to {host} (transient)") from exc
    except httpx.DecodingError as exc:
        raise PermanentJobError(f"the response body cannot be decoded: {exc}") from exc
    except httpx.HTTPError as exc:
        if reading:
            raise TransientJobError(
                f"the connection failed mid-response: {exc} (transient)"
            ) from exc
        raise TransientJobError(
            f"cannot connect to {host}: {exc or type(exc).__name__} (transient)"
        ) from exc
