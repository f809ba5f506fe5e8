from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ingestq.pipeline.prefetch import prefetch


def test_items_arrive_in_order() -> None:
    assert list(prefetch(range(1000), ahead=7)) == list(range(1000))


def test_the_producer_runs_in_another_thread_and_stays_bounded() -> None:
    produced: list[int] = []
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for i in range(100):
            threads.add(threading.current_thread().name)
            produced.append(i)
            yield i

    stream = prefetch(source(), ahead=5)
    assert next(stream) == 0
    time.sleep(0.3)
    assert len(produced) <= 1 + 5 + 1  # the one taken, the queue, the one waiting to go in
    assert threads == {"ingestq-prefetch"}
    assert list(stream) == list(range(1, 100))


def test_a_producer_error_reaches_the_consumer() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("parser broke")

    stream = prefetch(source(), ahead=2)
    assert next(stream) == 1
    with pytest.raises(ValueError, match="parser broke"):
        next(stream)


def test_stopping_early_stops_the_producer() -> None:
    def source() -> Iterator[int]:
        yield from range(10**9)

    stream = prefetch(source(), ahead=2)
    next(stream)
    stream.close()  # the consumer gives up, as on a timeout
    assert not any(t.name == "ingestq-prefetch" and t.is_alive() for t in threading.enumerate())
