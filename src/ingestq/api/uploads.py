"""Reading a multipart upload as it arrives, one part at a time, never whole.

:class:`MultipartReader` runs in a worker thread. It pulls the request body
from the event loop chunk by chunk (``next_chunk``) and feeds python-multipart's
push parser; a file part is read through the same pull, so the blob store takes
each file as a stream and a refusal (too large, not a PDF) stops reading there:
the rest of the body is never read, let alone buffered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ingestq.errors import TooLargeError, UsageError

#: The longest form field (collection, callback, delay) we read.
MAX_FIELD_BYTES = 64 * 1024


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str


@dataclass
class _Events:
    """What the push parser has found and the reader has not taken yet."""

    items: deque[tuple[str, object]] = field(default_factory=deque)
    name: bytes = b""
    value: bytes = b""
    headers: dict[str, bytes] = field(default_factory=dict)


def form_boundary(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` body; :class:`UsageError` for any other."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UsageError("send the files as multipart/form-data, in the field 'file'")
    return boundary


class MultipartReader:
    """The parts of a ``multipart/form-data`` body, pulled on demand."""

    def __init__(self, content_type: str, next_chunk: Callable[[], bytes]) -> None:
        boundary = form_boundary(content_type)
        self._next = next_chunk
        self._ev = _Events()
        self._done = False
        try:
            self._parser = MultipartParser(boundary, self._callbacks())  # type: ignore[arg-type]
        except FormParserError as exc:
            raise UsageError(f"the multipart body is malformed: {exc}") from None

    def _callbacks(self) -> dict[str, Callable[..., None]]:
        ev = self._ev

        def header_field(data: bytes, start: int, end: int) -> None:
            ev.name += data[start:end]

        def header_value(data: bytes, start: int, end: int) -> None:
            ev.value += data[start:end]

        def header_end() -> None:
            ev.headers[ev.name.decode("latin-1").lower()] = ev.value
            ev.name = ev.value = b""

        def headers_finished() -> None:
            ev.items.append(("part", dict(ev.headers)))
            ev.headers.clear()

        def part_data(data: bytes, start: int, end: int) -> None:
            ev.items.append(("data", bytes(data[start:end])))

        return {
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_finished,
            "on_part_data": part_data,
            "on_part_end": lambda: ev.items.append(("end", None)),
            "on_end": lambda: ev.items.append(("done", None)),
        }

    def _event(self) -> tuple[str, object]:
        while not self._ev.items:
            chunk = self._next()
            if not chunk:
                raise UsageError("the upload ended before its multipart body did")
            try:
                self._parser.write(chunk)
            except FormParserError as exc:
                raise UsageError(f"the multipart body is malformed: {exc}") from None
        return self._ev.items.popleft()

    def parts(self) -> Iterator[Part]:
        """Each part in turn; read its content with :meth:`read_part` before the next."""
        while not self._done:
            kind, value = self._event()
            if kind == "done":
                self._done = True
            elif kind == "part":
                assert isinstance(value, dict)
                yield _part(value)

    def read_part(self) -> bytes:
        """The next bytes of the current part's content; b"" at its end."""
        while True:
            kind, value = self._event()
            if kind == "data":
                assert isinstance(value, bytes)
                if value:
                    return value
            elif kind == "end":
                return b""

    def read_field(self, name: str) -> str:
        """The whole of a small text field."""
        out = b""
        while block := self.read_part():
            out += block
            if len(out) > MAX_FIELD_BYTES:
                raise TooLargeError(f"the form field {name!r} is too long")
        return out.decode("utf-8", "replace").strip()


def _part(headers: dict[str, bytes]) -> Part:
    # Header values stay bytes: browsers send file names as raw UTF-8.
    _, params = parse_options_header(headers.get("content-disposition", b""))
    name = params.get(b"name", b"").decode("utf-8", "replace")
    filename = params.get(b"filename")
    return Part(
        name=name,
        filename=filename.decode("utf-8", "replace") if filename is not None else None,
        content_type=headers.get("content-type", b"").decode("latin-1"),
    )
