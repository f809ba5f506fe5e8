"""A burst in several threads: jobs in flight together fill the embedding batches.

Each thread takes due jobs one after another until none is due, as a burst
of one does; the main thread waits for them in slices, so it stays free to
take SIGINT and SIGTERM.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def drain_in_threads(
    drain: Callable[[], int], concurrency: int, on_error: Callable[[], None]
) -> int:
    """Run ``drain`` in ``concurrency`` threads; the jobs they ran, summed.

    A thread that fails calls ``on_error`` (the worker stops taking jobs) and
    its exception is raised here once every thread has ended.
    """
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            counts.append(drain())
        except BaseException as exc:  # raised by the main thread below
            errors.append(exc)
            on_error()

    threads = [
        threading.Thread(target=run, name=f"ingestq-burst-{n}", daemon=True)
        for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    if errors:
        raise errors[0]
    return sum(counts)
