"""A Chroma server as the vector store: opening it, and riding out its restarts.

chromadb's HTTP client (1.x) talks to the server through httpx with no timeout
at all, turns an answer it does not recognise into a bare ``Exception`` holding
the body (the status is lost), and wraps a refused connection in ``ValueError``
while it is being built. So, here:

- every request gets a connect and a read timeout, and 5xx, 429, 401 and 403
  answers become exceptions of our own before chromadb reads them;
- a call that meets a refused or reset connection, a timeout or a 5xx is tried
  again with a short backoff, for up to ``INGESTQ_CHROMA_RETRY`` seconds, then
  :class:`~ingestq.errors.StoreUnavailableError` (a worker hands its job back);
- opening tries for a moment only (a command line must not hang on a server
  that is down) and says what is wrong in one line: unreachable, a tenant that
  does not exist, credentials refused.

The token goes through chromadb's own ``TokenAuthClientProvider``, so it is sent
as chromadb's server-side token auth expects: ``Authorization: Bearer <token>``
or ``X-Chroma-Token: <token>`` (``INGESTQ_CHROMA_TOKEN_HEADER``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ingestq.backoff import short_delay
from ingestq.errors import (
    ConfigError,
    IngestqError,
    StoreError,
    StoreUnavailableError,
    StoreUnreachableError,
    UnreachableError,
)
from ingestq.masking import mask

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5.0
#: A slow answer is not a dead server: a big delete or query may take a while.
READ_TIMEOUT_S = 120.0
#: How long opening keeps trying before it gives up.
OPEN_RETRY_S = 2.0
#: At most one "out of reach" line per this many seconds.
SAY_EVERY_S = 60.0
#: Answers that mean "not now" rather than "no": a restart, a proxy without its upstream.
UNAVAILABLE = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class ServerConfig:
    """Where the Chroma server is and who we are to it."""

    url: str
    token: str | None = field(default=None, repr=False)
    token_header: str = "Authorization"
    tenant: str = "default_tenant"
    database: str = "default_database"
    retry_s: float = 60.0

    @property
    def where(self) -> str:
        return mask(self.url)


class ServerStatus(Exception):
    """The server answered 5xx or 429."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}" + (f": {_short(body)}" if body.strip() else ""))
        self.status = status


class ServerRefused(Exception):
    """The server answered 401 or 403: our token is missing or wrong."""


def chroma_module() -> tuple[Any, Any]:
    """The chromadb module and client settings that never phone home."""
    # Chroma reads this at import; set it before the import.
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb, ChromaSettings(anonymized_telemetry=False)


class Retrier:
    """Runs a call again while the server is out of reach, for up to ``budget_s``."""

    def __init__(self, where: str, budget_s: float, *, quiet: bool = False) -> None:
        self.where = where
        self.budget_s = budget_s
        self.quiet = quiet  # opening: the caller says it in one line if it fails
        self._lock = threading.Lock()
        self._said_at: float | None = None

    def __call__(self, call: Callable[[], T], again: Callable[[], T] | None = None) -> T:
        """``call()``; after a transient failure, ``again()`` (default: ``call``) until
        it succeeds or the budget is spent."""
        deadline: float | None = None
        retry = 0
        while True:
            try:
                result = call() if retry == 0 or again is None else again()
            except ServerRefused as exc:
                raise UnreachableError(
                    f"the Chroma server at {self.where} refused our credentials ({exc}):"
                    " check INGESTQ_CHROMA_TOKEN and INGESTQ_CHROMA_TOKEN_HEADER"
                ) from None
            except Exception as exc:
                kind = transient(exc)
                if kind is None:
                    raise
                now = time.monotonic()
                deadline = now + self.budget_s if deadline is None else deadline
                retry += 1
                delay = short_delay(retry)
                if now + delay > deadline:
                    raise self._gave_up(exc, kind) from None
                self._say(exc)
                time.sleep(delay)
                continue
            if retry:
                self._back()
            return result

    def _gave_up(self, exc: BaseException, kind: str) -> IngestqError:
        if kind == "failed":  # it answers, with an error of its own: not an outage
            return StoreError(f"the Chroma server at {self.where} failed: {exc}")
        return StoreUnavailableError(
            f"the Chroma server at {self.where} is out of reach"
            f" (for {self.budget_s:g} s): {describe(exc)}"
        )

    def _say(self, exc: BaseException) -> None:
        if self.quiet:
            return
        with self._lock:
            now = time.monotonic()
            if self._said_at is not None and now - self._said_at < SAY_EVERY_S:
                return
            self._said_at = now
        log.warning(
            "the Chroma server at %s is out of reach (%s); retrying for up to %g s",
            self.where,
            describe(exc),
            self.budget_s,
        )

    def _back(self) -> None:
        with self._lock:
            said, self._said_at = self._said_at, None
        if said is not None:
            log.warning("the Chroma server at %s answers again", self.where)


def transient(exc: BaseException) -> str | None:
    """``"unavailable"`` (down, restarting), ``"failed"`` (a 500: worth a few more
    tries, but it answers), or None: not a passing failure."""
    import httpx

    if isinstance(exc, ServerStatus):
        return "unavailable" if exc.status in UNAVAILABLE else "failed"
    if isinstance(exc, httpx.TransportError):  # refused, reset, timed out, cut short
        return "unavailable"
    # chromadb turns a refused connection into this while building a client.
    if isinstance(exc, ValueError) and "Could not connect to a Chroma server" in str(exc):
        return "unavailable"
    return None


def describe(exc: BaseException) -> str:
    """An exception in a few words: httpx's own are often empty or very long."""
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return f"connection failed ({_short(str(exc)) or 'refused'})"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    return _short(str(exc)) or type(exc).__name__


def connect(cfg: ServerConfig) -> tuple[Any, Retrier]:
    """An HTTP client on ``cfg``'s database (created on first use), and the retrier
    its calls go through. Raises a :class:`~ingestq.errors.ConfigError` in one line."""
    chromadb, _ = chroma_module()
    opening = Retrier(cfg.where, OPEN_RETRY_S, quiet=True)
    try:
        admin = chromadb.AdminClient(_settings(cfg))
        harden(admin)
        opening(lambda: _ensure_database(admin, cfg))
        parts = urlsplit(cfg.url)
        client = opening(
            lambda: chromadb.HttpClient(
                host=parts.hostname or "localhost",
                port=_port(cfg.url),
                ssl=parts.scheme == "https",
                settings=_settings(cfg, with_address=False),
                tenant=cfg.tenant,
                database=cfg.database,
            )
        )
        harden(client)
    except ConfigError:
        raise
    except StoreUnavailableError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise StoreUnreachableError(
            f"cannot use the Chroma server at {cfg.where}: {reason}"
        ) from None
    except StoreError as exc:  # it answers, with errors
        raise UnreachableError(str(exc)) from None
    except Exception as exc:  # chromadb's errors have no common base
        raise UnreachableError(
            f"cannot use the Chroma server at {cfg.where}: {describe(exc)}"
        ) from None
    return client, Retrier(cfg.where, cfg.retry_s)


def _ensure_database(admin: Any, cfg: ServerConfig) -> None:
    """Check the tenant; make the database unless it exists (perhaps made meanwhile)."""
    from chromadb.errors import ChromaError, NotFoundError

    try:
        admin.get_tenant(cfg.tenant)
    except NotFoundError:
        # Creating a database in a tenant that does not exist "works", and makes
        # a database nobody can use: refuse instead.
        raise ConfigError(
            f"INGESTQ_CHROMA_TENANT={cfg.tenant!r}: no such tenant on the Chroma server"
            f" at {cfg.where}"
        ) from None
    try:
        admin.get_database(cfg.database, tenant=cfg.tenant)
        return
    except NotFoundError:
        pass
    try:
        admin.create_database(cfg.database, tenant=cfg.tenant)
    except ChromaError:
        # Several workers starting together race to create it, and the losers
        # hear "already exists": it is there, which is all we wanted.
        admin.get_database(cfg.database, tenant=cfg.tenant)


def _settings(cfg: ServerConfig, with_address: bool = True) -> Any:
    """chromadb's settings for ``cfg``: its token auth provider, no telemetry."""
    from chromadb.config import Settings as ChromaSettings

    values: dict[str, Any] = {"anonymized_telemetry": False}
    if with_address:
        parts = urlsplit(cfg.url)
        values |= {
            "chroma_api_impl": "chromadb.api.fastapi.FastAPI",
            "chroma_server_host": parts.hostname,
            "chroma_server_http_port": _port(cfg.url),
            "chroma_server_ssl_enabled": parts.scheme == "https",
        }
    if cfg.token:
        values |= {
            "chroma_client_auth_provider": "chromadb.auth.token_authn.TokenAuthClientProvider",
            "chroma_client_auth_credentials": cfg.token,
            "chroma_auth_token_transport_header": cfg.token_header,
        }
    return ChromaSettings(**values)


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def harden(client: Any) -> None:
    """Give a chromadb client's httpx session timeouts and our status checks.

    chromadb builds it with ``timeout=None``: a server that stops answering
    would hold a worker forever. The session is private to chromadb, hence the
    care: without it the client still works, only without these guards.
    """
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        log.debug("chromadb's HTTP session not found: no timeouts on the Chroma server")
        return
    session.timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    hooks = session.event_hooks
    hooks["response"] = [*hooks.get("response", []), _check_status]
    session.event_hooks = hooks


def _check_status(response: Any) -> None:
    status = int(response.status_code)
    if status in (401, 403):
        raise ServerRefused(f"HTTP {status}")
    if status >= 500 or status in UNAVAILABLE:
        response.read()
        raise ServerStatus(status, response.text)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."
