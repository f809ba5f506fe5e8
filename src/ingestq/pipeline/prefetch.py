"""Run a producer ahead of its consumer, so parsing overlaps embedding.

PDF parsing is pure Python and holds the GIL, but the model's matrix work
releases it, so on two cores a parser thread keeps the next batch ready while
the current one is being embedded. The queue is bounded: memory stays flat
however far ahead the parser could run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(source: Iterable[T], ahead: int) -> Iterator[T]:
    """Yield ``source``'s items, produced by a background thread up to ``ahead`` early.

    An exception in the producer is re-raised in the consumer. If the consumer
    stops early (an error, a timeout), the producer is told to stop too.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as exc:  # forwarded, not swallowed
            put(_Failed(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="ingestq-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
