"""An HTTP server on 127.0.0.1 that attacks its client: bombs, dribbles, huge headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from hostile import bombs


@dataclass
class Hostile:
    base: str

    def url(self, path: str) -> str:
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    payloads: ClassVar[dict[str, tuple[bytes, str, str]]] = {}  # path -> (body, type, encoding)
    robots_bomb: ClassVar[bool] = False

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._route()

    def _route(self) -> None:
        path = self.path.split("?")[0]
        if path == "/robots.txt" and self.robots_bomb:
            path = "/brotli-bomb.html"
        try:
            if path in self.payloads:
                body, media, encoding = self.payloads[path]
                self._send(body, media, encoding)
            elif path.startswith("/dribble-headers"):
                self._dribble(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: " + b"a" * 10**6
                )
            elif path == "/dribble-body":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: 1000000\r\n\r\n")  # fmt: skip
                self._dribble(b"x" * 10**6)
            elif path == "/huge-headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 200_000 + b"\r\n"
                                 b"Content-Length: 2\r\n\r\nhi")  # fmt: skip
            else:
                self._send(b"no route", "text/plain", "", status=404)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, body: bytes, media: str, encoding: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dribble(self, data: bytes) -> None:
        """Send ``data`` a byte every 0.2 s: never fast enough to finish, never idle
        long enough to trip a read timeout."""
        for byte in data:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.2)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up on us is the point


#: A page whose title would clear the screen and write the clipboard if printed raw.
EVIL_PAGE = (
    b"<html><head><title>Title \x1b[2J\x1b]52;c;aGFja2Vk\x07</title></head><body><main>"
    b"<p>A perfectly ordinary paragraph of text about widgets and their many uses.</p>"
    b"</main></body></html>"
)

_bombs_lock = threading.Lock()
_cache: dict[str, tuple[bytes, str, str]] = {}


def _payloads() -> dict[str, tuple[bytes, str, str]]:
    with _bombs_lock:
        if not _cache:
            _cache.update(
                {
                    "/brotli-bomb.html": (bombs.brotli_bomb(), "text/html", "br"),
                    "/gzip-bomb.html": (bombs.gzip_bomb(), "text/html", "gzip"),
                    "/gzip-gzip-bomb.html": (bombs.double_gzip_bomb(), "text/html", "gzip, gzip"),
                    "/deep.html": (bombs.deep_html(), "text/html; charset=utf-8", ""),
                    "/zstd.html": (b"whatever", "text/html", "zstd"),
                    "/evil-title.html": (EVIL_PAGE, "text/html; charset=utf-8", ""),
                }
            )
        return _cache


@contextmanager
def serve(robots_bomb: bool = False) -> Iterator[Hostile]:
    """The server; with ``robots_bomb`` its robots.txt is a brotli bomb too."""
    handler = type("Handler", (_Handler,), {"payloads": _payloads(), "robots_bomb": robots_bomb})
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hostile(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
