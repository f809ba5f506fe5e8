"""A recording, misbehaving HTTP proxy in front of a real Chroma server, on 127.0.0.1.

The Chroma server in the installed chromadb (the Rust one that ``chroma run``
starts) has no authentication, so the proxy is where a test sees which headers
the client sends. It can also fail on purpose, as the network and a reverse
proxy in front of a restarting server do: answer 503, or forward a request and
then hang up without the answer (the write happened; the client cannot know).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Proxy:
    """What the proxy saw, and how it should misbehave next."""

    upstream: str
    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    fail_next: int = 0  # answer this many requests with 503
    fail_status: int = 503
    drop_next: dict[str, int] = field(default_factory=dict)  # path part -> forward, then hang up
    deny: bool = False  # answer 401 to everything
    errors: list[BaseException] = field(default_factory=list)  # the proxy's own failures
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self, method: str, part: str) -> list[str]:
        return [p for m, p, _ in self.requests if m == method and part in p]


def _handler(proxy: Proxy, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            with proxy.lock:
                proxy.requests.append((self.command, self.path, dict(self.headers.items())))
                failing = proxy.fail_next > 0
                proxy.fail_next -= int(failing)
                drop = next((p for p, n in proxy.drop_next.items() if n and p in self.path), None)
                if drop is not None and self.command == "POST":
                    proxy.drop_next[drop] -= 1
                else:
                    drop = None
            if proxy.deny:
                return self._answer(401, b'{"error":"Unauthorized"}')
            if failing:
                return self._answer(proxy.fail_status, b"upstream is restarting")
            got = client.request(self.command, proxy.upstream + self.path, content=body,
                                 headers=headers)  # fmt: skip
            if drop is not None:
                self.close_connection = True  # the write is done; the answer never comes
                return None
            return self._answer(got.status_code, got.content, got.headers.get("content-type"))

        def _answer(self, status: int, body: bytes, kind: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind or "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: Proxy, client: httpx.Client) -> None:
        super().__init__(("127.0.0.1", 0), _handler(proxy, client))
        self.proxy = proxy

    def handle_error(self, request: object, client_address: object) -> None:
        # The default prints a traceback to sys.stderr, and a CLI run in-process
        # (conftest's ``iq``) has redirected that: a client hanging up on a
        # keep-alive connection would land in the stderr a test checks for one
        # line. Hang-ups are the network's; anything else is the proxy's own bug.
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, ConnectionError):
            self.proxy.errors.append(error)


@contextmanager
def chroma_proxy(upstream: str) -> Iterator[Proxy]:
    """A proxy to the Chroma server at ``upstream``, for the ``with`` block."""
    proxy = Proxy(upstream)
    with httpx.Client(timeout=30) as client:
        server = _Server(proxy, client)
        proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield proxy
        finally:
            server.shutdown()
            server.server_close()
        assert not proxy.errors, f"the proxy itself failed: {proxy.errors!r}"
