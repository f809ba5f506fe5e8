"""The parser process: reads documents for its parent, under a memory cap.

Started by :mod:`ingestq.readers.sandbox` as ``python -m
ingestq.readers.parser_child FD MEMORY_MB``. It caps its own address space
first (``RLIMIT_AS``), so a document that needs more makes it fail here, not the
worker; then it answers requests on the socket ``FD`` until the parent hangs up.

Requests and replies are pickled tuples. It says ``("ready",)`` once, when it has
loaded its libraries; then:

- ``("pdf", path)``: ``("meta", page_count, title)``, then ``("page", number,
  text)`` per page, then ``("end",)``.
- ``("web", body, media, charset, url)``: ``("web", WebDocument)``, ``("end",)``.
- any failure: ``("error", kind, message)``, ``kind`` naming the error class;
  ``("memory",)`` when the cap was hit.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

#: A page with more text than this is refused: no real page holds it, and the
#: chunker would need gigabytes to tokenize it.
MAX_PAGE_CHARS = 2_000_000


def _pdf(path: str) -> Iterator[tuple[Any, ...]]:
    from ingestq.errors import PermanentJobError
    from ingestq.readers.pdf import open_pdf

    doc = open_pdf(Path(path))
    yield ("meta", doc.page_count, doc.title)
    for page in doc.pages():
        if len(page.text) > MAX_PAGE_CHARS:
            raise PermanentJobError(
                f"page {page.number} holds more than {MAX_PAGE_CHARS:,} characters of text"
            )
        yield ("page", page.number, page.text)


def _web(body: bytes, media: str, charset: str | None, url: str) -> Iterator[tuple[Any, ...]]:
    from ingestq.readers.webpage import parse

    yield ("web", parse(body, media, charset, url))


def _serve(conn: Connection) -> None:
    from ingestq.errors import IngestqError

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return  # the parent is gone, or done with us
        kind, *args = request
        try:
            for reply in (_pdf if kind == "pdf" else _web)(*args):
                conn.send(reply)
            conn.send(("end",))
        except MemoryError:
            conn.send(("memory",))
            return  # the heap may be in any state now: let the parent start a fresh one
        except IngestqError as exc:
            conn.send(("error", type(exc).__name__, str(exc)))
        except Exception as exc:  # a bug, or a library choking: one line for the job
            line = f"cannot read it: {type(exc).__name__}: {exc}"[:300]
            conn.send(("error", "PermanentJobError", line))


def main(argv: list[str]) -> None:
    fd, memory_mb = int(argv[0]), int(argv[1])
    cap = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # Loaded now, while the parent waits for the model: the first document
    # then costs no import.
    import pypdf  # noqa: F401
    import pypdfium2  # noqa: F401

    conn = Connection(fd)
    conn.send(("ready",))
    _serve(conn)


if __name__ == "__main__":
    main(sys.argv[1:])
