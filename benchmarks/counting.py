"""Counting what ingestq asks of its servers, for the scale-out benchmark (scaleout.py).

* Chroma: a small HTTP proxy in front of the Chroma server that forwards every
  request and counts it by method and path (ids in paths folded), with the time
  the server took to answer.
* Redis: a ``MONITOR`` connection. The Redis server is shared with whatever
  else runs on the machine, so ``INFO commandstats`` deltas would count others'
  commands too: only connections that touched a key holding this run's queue
  name are counted (every command of such a connection).
* PostgreSQL: ``pg_stat_database`` of the benchmark's own database, before and
  after (server side: commits, rows, time spent in statements), and a prelude
  run in the measured worker process that times each state transaction and
  counts statements (client side).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATABASE = re.compile(r"/databases/[^/]+")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


def _route(path: str) -> str:
    """A request's path with its database name and ids folded: what kind of call it is."""
    return _ID.sub("{id}", _DATABASE.sub("/databases/{db}", path.split("?")[0]))


class ChromaCounter:
    """A counting proxy for a Chroma server: point INGESTQ_CHROMA_URL at :attr:`url`."""

    def __init__(self, upstream_port: int) -> None:
        self.requests: list[tuple[str, float]] = []  # (method and route, seconds to answer)
        counter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)

            def finish(self) -> None:
                super().finish()
                self.upstream.close()

            def forward(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                start = time.perf_counter()
                self.upstream.request(self.command, self.path, body=body, headers=headers)
                reply = self.upstream.getresponse()
                data = reply.read()
                counter.count(f"{self.command} {_route(self.path)}", time.perf_counter() - start)
                self.send_response(reply.status, reply.reason)
                for key, value in reply.getheaders():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def count(self, what: str, seconds: float) -> None:
        self.requests.append((what, seconds))  # list.append is atomic: no lock needed

    def mark(self) -> int:
        """A position in the stream of requests, to count from."""
        return len(self.requests)

    def between(self, since: int, until: int) -> dict[str, dict[str, float]]:
        """Per route: its requests between two marks, their seconds, and the median."""
        times: dict[str, list[float]] = {}
        for what, seconds in self.requests[since:until]:
            times.setdefault(what, []).append(seconds)
        return {
            k: {"calls": len(v), "seconds": sum(v), "median_s": statistics.median(v)}
            for k, v in sorted(times.items())
        }

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_MONITOR_LINE = re.compile(r'^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"(.*)$')


class RedisMonitor:
    """Commands sent by connections that touched a key holding ``marker`` (a queue name)."""

    def __init__(self, host: str, port: int, marker: str) -> None:
        self.marker = marker
        self.lines: list[tuple[str, str, bool]] = []  # (client, COMMAND, touched marker)
        self._stop = threading.Event()
        self._sock = socket.create_connection((host, port), timeout=0.5)
        self._sock.sendall(b"MONITOR\r\n")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            buffer += data
            *lines, buffer = buffer.split(b"\r\n")
            for raw in lines:
                found = _MONITOR_LINE.match(raw.decode("utf-8", "replace"))
                if found and found.group(1) != "lua":  # a script's own calls: its EVALSHA counts
                    client, command, rest = found.groups()
                    self.lines.append((client, command.upper(), self.marker in rest))

    def mark(self) -> int:
        """A position in the command stream, to count from."""
        time.sleep(0.3)  # let MONITOR's stream catch up with what was sent
        return len(self.lines)

    def commands(self, since: int, until: int | None = None) -> Counter[str]:
        """The commands of our connections between two marks."""
        ours = {client for client, _, touched in self.lines if touched}
        return Counter(command for client, command, _ in self.lines[since:until] if client in ours)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


PG_COLUMNS = (
    "xact_commit",
    "xact_rollback",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "blks_read",
    "blks_hit",
    "active_time",
    "sessions",
)


def pg_stats(admin_url: str, database: str) -> dict[str, float]:
    """``pg_stat_database`` for ``database``, read from another database (so the read
    itself is not counted), once the figures stop moving (a backend flushes its
    counters at exit, a moment after its client went)."""
    import psycopg

    query = f"SELECT {', '.join(PG_COLUMNS)} FROM pg_stat_database WHERE datname = %s"
    last: dict[str, float] = {}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for _ in range(20):
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(query, (database,)).fetchone()
            assert row is not None, f"no statistics for database {database}"
            now = {k: float(v or 0) for k, v in zip(PG_COLUMNS, row, strict=True)}
            if now == last:
                return now
            last = now
            time.sleep(0.5)
    return last


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


#: Run before ``ingestq.cli.main`` in the measured worker: it times every state
#: transaction (from the writer lock taken to the commit returned: how long the
#: lock is held) and counts statements, and prints the counts so far every half
#: second and at exit. It measures, and changes nothing.
PRELUDE = r"""
import atexit, json, statistics, sys, threading, time
from contextlib import contextmanager
from ingestq.state import postgres as _pg

_S = {"transactions": 0, "held_s": 0.0, "wait_s": 0.0, "statements": 0, "tx_statements": 0}
_HELD, _ONE = [], []  # each transaction's hold; each single statement's round trip
_L = threading.Lock()
_tx = _pg.PostgresDatabase.transaction

@contextmanager
def _timed(self):
    outer = getattr(self._local, "conn", None) is None
    start = time.perf_counter()
    with _tx(self):
        held = time.perf_counter()
        yield
    if outer:
        end = time.perf_counter()
        with _L:
            _S["transactions"] += 1
            _S["wait_s"] += held - start
            _S["held_s"] += end - held
            _HELD.append(end - held)

def _counted(name):
    original = getattr(_pg.PostgresDatabase, name)
    def wrapper(self, sql, params=()):
        if name == "executemany":
            params = list(params)
        n = len(params) if name == "executemany" else 1
        start = time.perf_counter()
        try:
            return original(self, sql, params)
        finally:
            with _L:
                _S["statements"] += n
                if getattr(self._local, "conn", None) is not None:  # inside a transaction
                    _S["tx_statements"] += n
                if name != "executemany":
                    _ONE.append(time.perf_counter() - start)
    return wrapper

_pg.PostgresDatabase.transaction = _timed
for _name in ("execute", "executemany", "fetchall", "fetchone"):
    setattr(_pg.PostgresDatabase, _name, _counted(_name))

def _say():
    with _L:
        medians = {
            "median_held_s": statistics.median(_HELD) if _HELD else 0.0,
            "median_statement_s": statistics.median(_ONE) if _ONE else 0.0,
        }
        line = f"SCALEOUT-STATS {time.time():.3f} {json.dumps({**_S, **medians})}\n"
    sys.stderr.write(line)
    sys.stderr.flush()

def _every():
    while True:
        time.sleep(0.5)
        _say()

threading.Thread(target=_every, daemon=True).start()  # for rates over a window
atexit.register(_say)
from ingestq.cli import main
main(sys.argv[1:])
"""


def prelude_stats(stderr: str) -> list[tuple[float, dict[str, float]]]:
    """What :data:`PRELUDE` printed, as (unix time, counts so far); the last is at exit."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("SCALEOUT-STATS "):
            _, stamp, counts = line.split(" ", 2)
            found.append((float(stamp), dict(json.loads(counts))))
    return found


@contextmanager
def monitoring(host: str, port: int, marker: str) -> Iterator[RedisMonitor]:
    monitor = RedisMonitor(host, port, marker)
    try:
        yield monitor
    finally:
        monitor.close()
