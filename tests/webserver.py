"""A real HTTP server on 127.0.0.1 for the scraping tests: friendly, flaky, slow and hostile."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import FOUR_PAGES, corpus

NAV_TEXT = "Previous topic: Overview"
ARTICLE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Installing Widgets — Widget Docs</title>
<link rel="stylesheet" href="/style.css"><style>body {{ color: #333; }}</style></head>
<body>
<header class="site-header"><nav><a href="/">Home</a> | <a href="/guide">Guide</a> |
  <a href="/api">API reference</a> | <a href="/blog">Blog</a></nav></header>
<div class="sphinxsidebar" role="navigation"><h3>Table of contents</h3><ul>
  <li><a href="/overview">{NAV_TEXT}</a></li>
  <li><a href="/config">Next topic: Configuration</a></li>
  <li><a href="/_sources/install.txt">Show source</a></li>
  <li><a href="/bugs">Report a bug</a></li></ul>
  <form class="search"><input name="q"><button>Go</button></form></div>
<main><article>
<h1>Installing Widgets</h1>
<p>Widgets are installed with the <code>widget</code> command. The installer checks your
<em>system</em> first, then unpacks the bundled wheels, because everything ships inside the
package and nothing is downloaded while you wait.</p>
<h2>Retries and backoff</h2>
<p>When a widget fails to install, the installer retries three times with exponential backoff:
first after fifteen seconds, then after one minute, then after five minutes. Each retry is
logged with the reason of the failure so that you can tell a flaky mirror from a broken
package.</p>
<h2>Uninstalling</h2>
<p>Remove a widget with <code>widget remove NAME</code>. Its configuration files stay in place
unless you pass <b>--purge</b>, which also deletes the cache directory and the lock file.</p>
</article></main>
<footer class="footer">&copy; 2026 Widget Corp. All rights reserved. Privacy policy. Imprint.
</footer>
<script>var tracking = "tracking-script-text";</script>
</body></html>
"""

#: A reference page as Sphinx writes them: entries in definition lists, identifiers
#: that a keyword search must find as typed.
REFERENCE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Reference — Widget Docs</title></head><body>
<div class="body" role="main"><section id="reference"><h1>Reference</h1>
<p>This page documents every function of the widget library, one entry each.</p>
<dl class="py function"><dt class="sig sig-object py" id="json.dumps">
<span class="sig-prename">json.</span><span class="sig-name">dumps</span>(obj, indent=None)</dt>
<dd><p>Serialise obj to a JSON formatted str, with optional indentation per level.</p></dd></dl>
<dl class="py data"><dt class="sig sig-object py" id="os.O_PATH">
<span class="sig-prename">os.</span><span class="sig-name">O_PATH</span></dt>
<dd><p>Open flag: obtain a descriptor that refers to a location in the file tree only.</p></dd>
</dl>
<dl class="std option"><dt class="sig sig-object std" id="cmdoption-chunk-tokens">
<span class="sig-name">--chunk-tokens</span> N</dt>
<dd><p>Size of each piece of a document in model tokens; larger pieces hold more context.</p></dd>
</dl>
<section id="addresses"><h2>Addresses</h2>
<p>Mail addresses are parsed as RFC 5322 describes them, comments and folding included.</p>
</section>
<section id="colours"><h2>Colours</h2>
<p>The colour of a widget follows the theme unless a colour was chosen when it was made;
themes ship with light and dark variants, and custom palettes can be loaded at start.</p>
</section></section></div></body></html>
"""

LATIN1 = (
    '<html><head><meta charset="iso-8859-1"><title>Caf\u00e9 K\u00f6ln</title></head><body>'
    "<main><p>Gr\u00fc\u00dfe aus K\u00f6ln! Die sch\u00f6ne Stra\u00dfe am Dom f\u00fchrt zum "
    "Caf\u00e9, wo es K\u00e4sekuchen und hei\u00dfe Schokolade gibt. Wer fr\u00fch kommt, "
    "bekommt einen Platz am Fenster mit Blick auf den Fluss.</p></main></body></html>"
).encode("iso-8859-1")

EMPTY = (
    b"<html><head><title>Nothing</title></head><body><nav><a href='/'>Home</a></nav>"
    b"<script>var x = 1;</script></body></html>"
)
TEXT = (
    "Plain notes about widgets.\n\nThe widget daemon rotates its log files every night at "
    "two o'clock and keeps seven of them.\n"
)
MARKDOWN = (
    "# Widget FAQ\n\nAnswers to common questions.\n\n## Can widgets fly?\n\n"
    "No. Widgets are strictly ground-based devices and never leave the table.\n"
)


@dataclass
class Log:
    requests: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.requests]


def make_handler(log: Log, robots: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def send(
            self,
            status: int,
            body: bytes,
            ctype: str | None = "text/html",
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with log.lock:
                log.requests.append((time.monotonic(), self.path, dict(self.headers)))
                log.in_flight += 1
                log.max_in_flight = max(log.max_in_flight, log.in_flight)
            try:
                self.route()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with log.lock:
                    log.in_flight -= 1

        def route(self) -> None:
            path = self.path.split("?")[0]
            with log.lock:
                log.hits[path] = hit = log.hits.get(path, 0) + 1
            if path == "/docs/etag.html":  # answers a conditional GET with 304
                if self.headers.get("If-None-Match") == '"v1"':
                    self.send(304, b"", None, {"ETag": '"v1"'})
                else:
                    self.send(200, ARTICLE.encode(), "text/html", {"ETag": '"v1"'})
            elif path == "/docs/changing.txt":  # new content on every request
                self.send(
                    200, f"Edition {hit} of the changing notes. {TEXT}".encode(), "text/plain"
                )
            elif path == "/docs/vanishing.html":  # the article once, then a page with no text
                self.send(200, ARTICLE.encode() if hit == 1 else EMPTY, "text/html")
            elif path.startswith("/flaky/"):  # 503, 503, then the page
                if hit <= 2:
                    self.send(503, b"try later")
                else:
                    self.send(200, ARTICLE.encode(), "text/html; charset=utf-8")
            elif path == "/rate-limited":  # 429 asking for a 1 s pause, then the page
                if hit == 1:
                    self.send(429, b"slow down", headers={"Retry-After": "1"})
                else:
                    self.send(200, ARTICLE.encode(), "text/html; charset=utf-8")
            elif path == "/robots.txt":
                self.send(200, robots.encode(), "text/plain")
            elif path == "/docs/install.html":
                time.sleep(0.05)  # long enough for overlapping requests to show
                self.send(200, ARTICLE.encode(), "text/html; charset=utf-8")
            elif path == "/docs/manual.pdf":
                self.send(200, corpus(FOUR_PAGES).read_bytes(), "application/pdf")
            elif path == "/docs/notes.txt":
                self.send(200, TEXT.encode(), "text/plain; charset=utf-8")
            elif path == "/docs/faq.md":
                self.send(200, MARKDOWN.encode(), "text/markdown")
            elif path == "/docs/reference.html":
                self.send(200, REFERENCE.encode(), "text/html; charset=utf-8")
            elif path == "/docs/latin1.html":
                self.send(200, LATIN1, "text/html")
            elif path == "/docs/gzip.html":
                self.send(
                    200, gzip.compress(ARTICLE.encode()), "text/html", {"Content-Encoding": "gzip"}
                )
            elif path == "/docs/empty.html":
                self.send(200, EMPTY)
            elif path == "/docs/binary":
                self.send(200, bytes(range(256)) * 64, "application/octet-stream")
            elif path == "/private/secret.html":
                self.send(200, ARTICLE.encode())
            elif path == "/missing":
                self.send(404, b"not here")
            elif path == "/gone":
                self.send(410, b"gone")
            elif path == "/error":
                self.send(500, b"boom")
            elif path == "/busy":
                self.send(503, b"busy", headers={"Retry-After": "1"})
            elif path.startswith("/hop/"):
                left = int(path.rsplit("/", 1)[1])
                target = "/docs/install.html" if left == 0 else f"/hop/{left - 1}"
                self.send(302, b"", None, {"Location": target})
            elif path in ("/loop/a", "/loop/b"):
                other = "/loop/b" if path == "/loop/a" else "/loop/a"
                self.send(301, b"", None, {"Location": other})
            elif path == "/to-metadata":
                self.send(302, b"", None, {"Location": "http://169.254.169.254/latest/meta-data/"})
            elif path == "/slow":
                time.sleep(3)
                self.send(200, ARTICLE.encode())
            elif path == "/huge":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                block = b"<p>" + b"x" * 65536 + b"</p>"
                for _ in range(64):  # 4 MB, more than the tests' 1 MB cap
                    self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send(404, b"no route")

    return Handler


@dataclass
class Server:
    base: str
    log: Log

    def url(self, path: str) -> str:
        return self.base + path


DEFAULT_ROBOTS = "User-agent: *\nDisallow: /private/\n"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up mid-body (the size cap does that) are expected here


@contextmanager
def serve(robots: str = DEFAULT_ROBOTS) -> Iterator[Server]:
    log = Log()
    httpd = _QuietServer(("127.0.0.1", 0), make_handler(log, robots))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(base=f"http://127.0.0.1:{httpd.server_address[1]}", log=log)
    finally:
        httpd.shutdown()
        httpd.server_close()
