"""Parsing untrusted documents in child processes, each under a memory cap and a deadline.

A 100 KB PDF can inflate to gigabytes in PDFium, and a C library that runs out
of memory may abort the whole process. So PDFs and web pages are parsed in
parser processes (:mod:`ingestq.readers.parser_child`) that cap their own
address space at ``INGESTQ_PARSE_MEMORY_MB``. A parser that runs out of memory,
dies or overruns the job's deadline fails that job with one line; the worker,
and the jobs after it, never notice.

Parsers are started once and reused: a :class:`ParserPool` keeps the idle ones,
and a worker thread leases one per document. Pages stream back one at a time,
so the worker holds no more of a document than it did in-process.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ingestq import errors
from ingestq.errors import PermanentJobError
from ingestq.readers.textclean import Page

#: How often a parser's parent looks at the job's deadline and stop while it waits.
SLICE_S = 0.25

#: Signals that a process dies of when its allocations fail under the cap.
_OUT_OF_MEMORY = {signal.SIGABRT, signal.SIGKILL}

#: Errors a parser may report, by name; anything else is a plain PermanentJobError.
_ERRORS = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, errors.JobError)
}


class ParserMemoryError(PermanentJobError):
    """The document needs more memory than a parser may take."""


@dataclass
class ParsedPdf:
    """A PDF open in a parser: its metadata now, its pages as they come."""

    page_count: int
    title: str | None
    pages: Iterator[Page]


class Parser:
    """One parser process and the socket to it; used by one thread at a time."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        ours, theirs = socket.socketpair()
        child = ["-m", "ingestq.readers.parser_child", str(theirs.fileno()), str(memory_mb)]
        self.proc = subprocess.Popen(
            [sys.executable, *child],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # it reports on the socket; PDFium's warnings are noise
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.clean = True  # False while a reply is unread: then only kill() is safe
        self.ready = False  # it has said so: its libraries are loaded

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.conn.close()

    # -- requests ---------------------------------------------------------------
    def pdf(self, path: Path, stop: Callable[[], None]) -> ParsedPdf:
        """Open ``path``: its page count and title now, its pages as they are read."""
        self._send(("pdf", str(path)))
        _, page_count, title = self._receive(stop, "PDF")
        return ParsedPdf(page_count, title, self._pages(stop))

    def _pages(self, stop: Callable[[], None]) -> Iterator[Page]:
        while True:
            reply = self._receive(stop, "PDF")
            if reply[0] == "end":
                self.clean = True
                return
            yield Page(reply[1], reply[2])

    def web(
        self, body: bytes, media: str, charset: str | None, url: str, stop: Callable[[], None]
    ) -> Any:
        """Parse a fetched page (see :func:`ingestq.readers.webpage.parse`)."""
        self._send(("web", body, media, charset, url))
        _, document = self._receive(stop, "page")
        self._receive(stop, "page")  # ("end",)
        self.clean = True
        return document

    def wait_ready(self, stop: Callable[[], None]) -> None:
        """Wait until the process has loaded its libraries."""
        if not self.ready:
            self._receive(stop, "parser")
            self.ready = True

    def _send(self, request: tuple[Any, ...]) -> None:
        self.wait_ready(lambda: None)
        self.clean = False
        self.conn.send(request)

    def _receive(self, stop: Callable[[], None], what: str) -> tuple[Any, ...]:
        """The next reply; a job error if the parser failed, died, or must be stopped."""
        try:
            while not self.conn.poll(SLICE_S):
                if not self.alive():
                    break
                stop()
            reply: tuple[Any, ...] = self.conn.recv()
        except (EOFError, OSError):
            raise self._death(what) from None
        if reply[0] == "memory":
            raise ParserMemoryError(self._needs_more(what))
        if reply[0] == "error":
            self.clean = True
            raise _ERRORS.get(reply[1], PermanentJobError)(reply[2])
        return reply

    def _death(self, what: str) -> PermanentJobError:
        code = self.proc.wait()
        if code < 0 and -code in _OUT_OF_MEMORY:
            return ParserMemoryError(self._needs_more(what))
        how = f"exit code {code}"
        if code < 0:
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
        return PermanentJobError(f"the {what} crashed its parser ({how})")

    def _needs_more(self, what: str) -> str:
        return f"the {what} needs more than {self.memory_mb:,} MB to read"


class ParserPool:
    """Parser processes, started on demand and reused; one per thread at a time."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self._idle: list[Parser] = []
        self._lock = threading.Lock()
        self._closed = False

    def warm(self) -> None:
        """Start a parser now, ready, so the first document does not wait for it."""
        with self.lease() as parser:
            parser.wait_ready(lambda: None)

    @contextmanager
    def lease(self) -> Iterator[Parser]:
        """A parser for one document; given back if it finished cleanly, else killed."""
        with self._lock:
            parser = self._idle.pop() if self._idle else None
        if parser is None or not parser.alive():
            parser = Parser(self.memory_mb)
        try:
            yield parser
        finally:
            with self._lock:
                keep = parser.clean and parser.alive() and not self._closed
                if keep:
                    self._idle.append(parser)
            if not keep:
                parser.kill()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for parser in idle:
            parser.kill()
