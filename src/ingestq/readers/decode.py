"""Content-Encoding undone incrementally, with the download cap on the decoded size.

A client that lets its HTTP library decode bodies checks its size cap only
after each read has been decompressed, and one read of a few hundred bytes of
brotli can decode to gigabytes. So ingestq asks for the raw bytes and decodes
them here, a step at a time, never producing more than the cap allows.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from ingestq.errors import PermanentJobError

#: What we ask servers for; anything else they send is refused.
ACCEPT_ENCODING = "gzip, deflate, br"
#: Layers of encoding accepted on one body ("gzip, gzip" is two).
MAX_LAYERS = 3


class TooLarge(PermanentJobError):
    """The body decodes to more than the cap allows."""


class _Zlib:
    """gzip, or deflate (zlib-wrapped, or raw as some servers send it)."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            out = self._d.decompress(data, room + 1)
        except zlib.error:
            if self._gzip or self._started:
                raise
            # Raw deflate, without the zlib header: start again that way.
            self._d = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._d.decompress(data, room + 1)
        self._started = True
        return out

    def finish(self, room: int) -> bytes:
        return self._d.flush(room + 1)


class _Brotli:
    def __init__(self) -> None:
        import brotli

        self._d = brotli.Decompressor()
        self._error = brotli.error

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            return bytes(self._d.process(data, output_buffer_limit=room + 1))
        except self._error as exc:
            raise zlib.error(str(exc)) from exc

    def finish(self, room: int) -> bytes:
        return b""


_LAYERS: dict[str, Callable[[], _Zlib | _Brotli]] = {
    "gzip": lambda: _Zlib(gzip=True),
    "x-gzip": lambda: _Zlib(gzip=True),
    "deflate": lambda: _Zlib(gzip=False),
    "br": _Brotli,
}


class Decoder:
    """Decodes a body sent with ``Content-Encoding: encodings``, at most ``cap`` bytes of it."""

    def __init__(self, encodings: str, cap: int, limit: str) -> None:
        names = [e.strip().lower() for e in encodings.split(",") if e.strip()]
        names = [n for n in names if n != "identity"]
        unknown = [n for n in names if n not in _LAYERS]
        if unknown:
            raise PermanentJobError(f"unsupported content encoding {unknown[0]!r}")
        if len(names) > MAX_LAYERS:
            raise PermanentJobError(f"the response is encoded {len(names)} times over")
        # The last encoding applied is the first to undo.
        self._layers = [_LAYERS[n]() for n in reversed(names)]
        self.cap = cap
        self.size = 0  # decoded bytes so far
        self._limit = limit

    def feed(self, raw: bytes) -> bytes:
        """The decoded bytes ``raw`` adds; :class:`TooLarge` past the cap."""
        return self._through(raw, final=False)

    def finish(self) -> bytes:
        """What the decoders still hold once the body has ended."""
        return self._through(b"", final=True)

    def _through(self, data: bytes, final: bool) -> bytes:
        try:
            for layer in self._layers:
                room = self.cap - self.size
                data = layer.feed(data, room)
                if final:
                    data += layer.finish(max(room - len(data), 0))
                if len(data) > room:
                    raise TooLarge(f"the response is larger than {self._limit}")
        except zlib.error as exc:
            raise PermanentJobError(f"the response body cannot be decoded: {exc}") from exc
        self.size += len(data)
        return data
