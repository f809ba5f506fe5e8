"""Writing a new blob file past the page cache (``O_DIRECT``), where the disk allows it.

A blob is written once and read once, later, by a worker: keeping it in the page
cache buys nothing, and copying it there is most of what storing it costs on some
machines. On this project's 2-core virtual machines (Firecracker, whose balloon
hands freed memory back to the host) each fresh page-cache page faults on the
host: a buffered write of a new megabyte took 2-3 ms of system CPU, an ``O_DIRECT``
one 0.25 ms, and the upload endpoint spent about half its CPU there.

``O_DIRECT`` wants the memory, the offset and the length aligned to the device's
block size, so whole blocks go through a page-aligned buffer and the unaligned tail
is written buffered. Buffers are pooled (fresh memory faults as the page cache
does) and belong to one writer at a time, whichever thread it runs on. A file
system that refuses ``O_DIRECT`` (tmpfs, some overlays) gets ordinary buffered
writes; nothing else changes.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading

#: Bytes gathered before each direct write: a multiple of any block size, and big
#: enough that the write costs little more than the copy (dd: 0.3 ms of system CPU
#: a megabyte in 256 KB writes, 0.16 in 64 KB ones).
BUFFER = 512 * 1024
#: The alignment ``O_DIRECT`` needs on every device Linux has (4 KB pages).
ALIGN = 4096
#: Idle buffers kept for the next writers, 16 MB at most: a fresh buffer costs its
#: page faults (filling a new megabyte took 1 ms here, a reused one 0.08 ms), so the
#: pool should cover the uploads a server takes at once.
KEEP = 32

_idle: list[mmap.mmap] = []
_idle_lock = threading.Lock()


def _take_buffer() -> mmap.mmap:
    with _idle_lock:
        if _idle:
            return _idle.pop()
    return mmap.mmap(-1, BUFFER)  # anonymous memory is page aligned


def _give_back(buf: mmap.mmap) -> None:
    with _idle_lock:
        if len(_idle) < KEEP:
            _idle.append(buf)
            return
    buf.close()


def _set_direct(fd: int, on: bool) -> bool:
    """Turn ``O_DIRECT`` on or off for ``fd``; False where it is not supported."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | flag if on else flags & ~flag)
    except OSError:
        return False
    return True


def _write_all(fd: int, data: memoryview | bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class DirectWriter:
    """Append to a new, empty file (``fd``) with ``O_DIRECT`` where possible.

    Use it as a context manager, which closes ``fd`` on leaving; ``write`` as often
    as needed, then ``finish``."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = _take_buffer() if _set_direct(fd, True) else None
        self._fill = 0

    def __enter__(self) -> DirectWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._buf is not None:
            _give_back(self._buf)
            self._buf = None
        os.close(self._fd)

    def write(self, block: bytes) -> None:
        if self._buf is None:
            _write_all(self._fd, block)
            return
        view = memoryview(block)
        while view:
            n = min(len(view), BUFFER - self._fill)
            self._buf[self._fill : self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == BUFFER:
                self._flush_direct(self._buf, BUFFER)

    def finish(self) -> None:
        """Write what is left: whole blocks directly, the tail buffered."""
        buf = self._buf
        if buf is None:
            return
        whole = self._fill - self._fill % ALIGN
        tail = buf[whole : self._fill]
        if whole:
            self._flush_direct(buf, whole)
        self._fill = 0
        if tail:
            _set_direct(self._fd, False)
            _write_all(self._fd, tail)

    def _flush_direct(self, buf: mmap.mmap, length: int) -> None:
        with memoryview(buf) as view:
            _write_all(self._fd, view[:length])
        self._fill = 0
