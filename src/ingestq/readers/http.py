"""One HTTP exchange under a deadline that covers all of it, and that can be stopped.

httpx's timeouts bound each network operation: a server that dribbles its
headers one byte a second never trips a 30 s read timeout, and holds the job
(and every job behind it) for as long as it likes. Here every read and write
of an exchange also honours an overall deadline and a ``stop`` check (a cancel,
a job timeout, a worker shutting down), looked at least every
:data:`SLICE_S` seconds. The socket layer is httpcore's own, wrapped.

The body is read raw and decoded by :mod:`ingestq.readers.decode`, capped on
its decoded size.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ingestq.errors import PermanentJobError, TransientJobError
from ingestq.readers.decode import Decoder

#: The longest a blocked read waits before looking at the deadline and ``stop`` again.
SLICE_S = 0.25

#: Raises to end the exchange at once (the job was cancelled, timed out, or the
#: worker is stopping); returns if it may go on.
Stop = Callable[[], None]


@dataclass(frozen=True)
class Limits:
    """What bounds one exchange."""

    deadline: float  # time.monotonic() by which it must be over
    timeout_s: float  # what the deadline stands for, for the message
    max_bytes: int  # the decoded body's cap
    limit: str  # the cap, in words, for the message
    stop: Stop | None = None

    def check(self) -> float:
        """Raise if the exchange must end now; else the seconds it has left."""
        if self.stop is not None:
            self.stop()
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TransientJobError(
                f"the download took longer than {self.timeout_s:g} s (transient)"
            )
        return left


@dataclass
class Exchange:
    """A response: its status, headers (lower-case names) and decoded body."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


_limits: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("limits", default=None)


def make_pool(connect_timeout_s: float, read_timeout_s: float) -> Pool:
    """A connection pool whose every socket honours the current exchange's :class:`Limits`."""
    return Pool(connect_timeout_s, read_timeout_s)


class Pool:
    """httpcore's connection pool on a network backend that knows the exchange's limits.

    httpcore, not httpx: ingestq needs the raw body (to decode it under a cap)
    and the socket layer (to bound every read), which httpx keeps to itself.
    """

    def __init__(self, connect_timeout_s: float, read_timeout_s: float) -> None:
        import httpcore
        import httpx

        self._httpcore = httpcore
        self._timeouts = {
            "connect": connect_timeout_s,
            "read": read_timeout_s,
            "write": read_timeout_s,
            "pool": connect_timeout_s,
        }
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_guarded_backend()
        )

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def stream(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None, sni: str
    ) -> Iterator[Any]:
        """The response to one request, its body still to be read."""
        extensions = {"timeout": self._timeouts, "sni_hostname": sni}
        with self._pool.stream(
            method, url, headers=list(headers.items()), content=content, extensions=extensions
        ) as response:
            yield response


def _guarded_backend() -> Any:
    import httpcore

    class Guarded(httpcore.NetworkStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            started = time.monotonic()
            while True:
                step = _step(timeout, started)
                try:
                    return bytes(self._inner.read(max_bytes, step))
                except httpcore.ReadTimeout:
                    if timeout is not None and time.monotonic() - started >= timeout:
                        raise
                    # Only a slice ran out: look at the deadline and stop, then wait again.

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            # Not sliced: a write that timed out may have sent part of the buffer.
            self._inner.write(buffer, _bounded(timeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(
            self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
        ) -> Any:
            return Guarded(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout)))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class GuardedBackend(httpcore.SyncBackend):
        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            inner = super().connect_tcp(
                host, port, _bounded(timeout), local_address, socket_options
            )
            return Guarded(inner)

    return GuardedBackend()


def _step(timeout: float | None, started: float) -> float:
    limits = _limits.get()
    step = SLICE_S if timeout is None else min(SLICE_S, timeout - (time.monotonic() - started))
    if limits is not None:
        step = min(step, limits.check())
    return max(step, 0.001)


def _bounded(timeout: float | None) -> float | None:
    limits = _limits.get()
    if limits is None:
        return timeout
    left = limits.check()
    return left if timeout is None else min(timeout, left)


def exchange(
    pool: Pool,
    method: str,
    url: str,
    headers: dict[str, str],
    content: bytes | None,
    sni: str,
    limits: Limits,
) -> Exchange:
    """Send one request and read its response, all within ``limits``."""
    token = _limits.set(limits)
    where = _Where(sni)
    try:
        with _mapped(where), pool.stream(method, url, headers, content, sni) as response:
            where.reading = True
            found = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
            reason = response.extensions.get("reason_phrase", b"").decode("latin-1")
            return Exchange(response.status, reason, found, _read(response, found, limits))
    finally:
        _limits.reset(token)


def _read(response: Any, headers: dict[str, str], limits: Limits) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise PermanentJobError(f"the response is larger than {limits.limit}")
    decoder = Decoder(headers.get("content-encoding", ""), limits.max_bytes, limits.limit)
    parts: list[bytes] = []
    raw = 0
    for chunk in response.iter_stream():
        raw += len(chunk)
        if raw > limits.max_bytes:
            raise PermanentJobError(f"the response is larger than {limits.limit}")
        parts.append(decoder.feed(chunk))
        limits.check()
    parts.append(decoder.finish())
    return b"".join(parts)


@dataclass
class _Where:
    """How far an exchange got, for its error messages."""

    host: str
    reading: bool = False  # the headers are in; the body is being read


@contextmanager
def _mapped(where: _Where) -> Iterator[None]:
    """httpcore's errors as job errors that say whether a retry could help."""
    import httpcore

    host = where.host
    try:
        yield
    except httpcore.ConnectTimeout as exc:
        raise TransientJobError(f"timed out connecting to {host} (transient)") from exc
    except httpcore.TimeoutException as exc:
        what = "reading the response" if where.reading else f"waiting for {host} to answer"
        raise TransientJobError(f"timed out {what} (transient)") from exc
    except httpcore.RemoteProtocolError as exc:
        text = str(exc) or type(exc).__name__
        if "too long" in text.lower() or "too large" in text.lower():
            raise PermanentJobError(f"the response headers of {host} are too large") from exc
        raise TransientJobError(f"{host} broke the HTTP exchange: {text} (transient)") from exc
    except httpcore.ConnectError as exc:
        text = str(exc) or type(exc).__name__
        raise TransientJobError(f"cannot connect to {host}: {text} (transient)") from exc
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        text = str(exc) or type(exc).__name__
        if where.reading:
            raise TransientJobError(
                f"the connection failed mid-response: {text} (transient)"
            ) from exc
        raise TransientJobError(f"the connection to {host} failed: {text} (transient)") from exc
