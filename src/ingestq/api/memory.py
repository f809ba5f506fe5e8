"""Keeping freed memory for reuse in a server process (glibc's ``mallopt``).

An upload passes through a few buffers of 64 KB to 1 MB (uvicorn's body pieces,
their join, the multipart parser's parts). glibc serves allocations that big with
``mmap`` and returns them with ``munmap``, and trims the heap's free top back to
the kernel at 128 KB, so each upload gets fresh pages and faults every one of
them in. On this project's 2-core virtual machines a fresh page is a fault on
the host as well: 1 MB of fresh memory took about 1 ms of system CPU to fill
against 0.08 ms for memory reused. Raising both thresholds keeps those buffers in
the heap, reused from one upload to the next, at the cost of holding up to
``TRIM`` of freed memory per malloc arena.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("ingestq")

#: mallopt's parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Allocations up to this size come from the heap, not from their own mapping.
MMAP = 4 * 1024 * 1024
#: Free memory at the top of a heap kept for reuse, not given back.
TRIM = 16 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where the C
    library is not glibc (musl, macOS), which then keeps its own behaviour."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM))
    if not done:
        log.debug("mallopt refused the thresholds; keeping the C library's defaults")
    return done
