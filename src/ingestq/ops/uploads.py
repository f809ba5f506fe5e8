"""Uploads: PDFs that arrive as streams (the API's ``POST /v1/documents``), not paths.

Each stream goes into the blob store as it is read, through :class:`CappedPDF`:
it must start with ``%PDF-`` and may not pass the size cap, and either failure
stops the read at once, so an oversized upload is never buffered whole. The
stored files then become jobs exactly as ``add``'s do (see
:func:`ingestq.ops.submit.submit_entries`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO

from ingestq.config import Settings
from ingestq.errors import NotPDFError, TooLargeError, UsageError
from ingestq.ops.files import PDF_MAGIC
from ingestq.ops.inputs import SubmitOptions
from ingestq.ops.submit import AddResult, Entry, submit_entries
from ingestq.state import jobs, waiting_at_most
from ingestq.store import open_blob_store

#: How long an upload handled on the server's event loop waits for the state
#: database's write turn before its writes move to a thread: a few of another
#: process's short transactions, never a long one (an ``add`` of many files).
LOOP_PATIENCE_S = 0.005


def without_waiting() -> AbstractContextManager[None]:
    """Within it, a write that cannot take its turn within :data:`LOOP_PATIENCE_S`
    raises :class:`~ingestq.errors.WriterBusy` before it writes anything."""
    return waiting_at_most(LOOP_PATIENCE_S)


@dataclass(frozen=True)
class StoredUpload:
    """One uploaded file, in the blob store."""

    name: str  # the file's name as the client gave it, cleaned: the job's source
    digest: str
    size: int


class CappedPDF(io.RawIOBase):
    """A PDF read from ``read_more`` (a callable giving the next bytes, b"" at the end):
    :class:`NotPDFError` unless it starts with ``%PDF-``, :class:`TooLargeError` past
    ``max_bytes``; both raised by ``read`` as soon as they are known."""

    def __init__(self, read_more: Callable[[], bytes], name: str, max_bytes: int) -> None:
        self._more, self.name, self._max = read_more, name, max_bytes
        self._buffer = b""
        self._size = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def _pull(self) -> bytes:
        block = self._more()
        self._size += len(block)
        if self._size > self._max:
            raise TooLargeError(
                f"{self.name}: over the {self._max / 1048576:g} MB limit (INGESTQ_MAX_FILE_MB)"
            )
        return block

    def _check_magic(self) -> None:
        while len(self._buffer) < len(PDF_MAGIC) and (block := self._pull()):
            self._buffer += block
        if not self._buffer.startswith(PDF_MAGIC):
            raise NotPDFError(f"{self.name}: not a PDF (it does not start with %PDF-)")
        self._checked = True

    def read(self, size: int = -1) -> bytes:
        if not self._checked:
            self._check_magic()
        if not self._buffer:
            self._buffer = self._pull()
        if size < 0 or size >= len(self._buffer):
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


def clean_name(raw: str | None) -> str:
    """A file name fit to be a job's source: its last path part, printable, bounded."""
    name = re.split(r"[/\\]", raw or "")[-1]
    name = "".join(c for c in name if c.isprintable()).strip()[:255]
    return name or "upload.pdf"


def store_upload(settings: Settings, stream: BinaryIO) -> tuple[str, int]:
    """Store what ``stream`` holds in the blob store; its SHA-256 and size."""
    blobs = open_blob_store(settings)
    try:
        return blobs.put_stream(stream)
    finally:
        blobs.close()  # on PostgreSQL, the pool it opened for this upload


def add_uploads(
    settings: Settings, uploads: Sequence[StoredUpload], options: SubmitOptions
) -> AddResult:
    """Jobs for stored uploads, as ``add`` makes them for files."""
    if not uploads:
        raise UsageError("nothing to add: no file was uploaded (use the form field 'file')")
    job_options = options.job_options(settings)
    entries: list[Entry] = [
        (
            up.digest,
            jobs.NewJob(
                kind="pdf",
                source=up.name,
                collection=options.collection,
                content_hash=up.digest,
                size_bytes=up.size,
                options=job_options,
                not_before=options.start_at,
                owner=options.owner,
            ),
        )
        for up in uploads
    ]
    result = AddResult()
    submit_entries(settings, result, entries, options)
    return result
