"""The parse sandbox's cost: the corpus through a worker whose PDFs are read in
parser processes (as shipped), against the same worker reading them in-process.

Both run in this process with one loaded model, alternating, over the same
files; each variant's figure is the median wall time of a burst over the corpus
(model and parser start-up excluded: both are loaded before the clock starts).
The goal is an overhead of at most 3%.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import corpus_pdfs


class InProcessParser:
    """What the worker read PDFs with before the sandbox: the same readers, in-process."""

    def pdf(self, path: Path, stop: Any) -> Any:
        from ingestq.readers.pdf import open_pdf
        from ingestq.readers.sandbox import ParsedPdf

        doc = open_pdf(path)
        return ParsedPdf(doc.page_count, doc.title, doc.pages())

    def web(self, body: bytes, media: str, charset: str | None, url: str, stop: Any) -> Any:
        from ingestq.readers.webpage import parse

        return parse(body, media, charset, url)


class InProcessPool:
    def warm(self) -> None:
        pass

    def close(self) -> None:
        pass

    @contextmanager
    def lease(self) -> Iterator[InProcessParser]:
        yield InProcessParser()


def one_burst(files: list[Path], embedder: Any, sandboxed: bool) -> float:
    """Seconds a burst takes over ``files`` in a fresh home."""
    from ingestq.config import load_settings
    from ingestq.ops.submit import add_paths
    from ingestq.worker.worker import Worker, WorkerOptions

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INGESTQ_HOME"] = str(Path(tmp) / "home")
        settings = load_settings()
        add_paths(settings, [str(f) for f in files])
        worker = Worker(settings, embedder)
        if not sandboxed:
            worker.resources.parsers.close()
            worker.resources.parsers = InProcessPool()  # type: ignore[assignment]
        worker.resources.load()  # model, store, a warm parser: outside the clock
        start = time.perf_counter()
        worker.run(WorkerOptions(burst=True))
        seconds = time.perf_counter() - start
        worker.close()
        return seconds


def parser_start_s() -> float:
    from ingestq.readers.sandbox import ParserPool

    pool = ParserPool(1500)
    start = time.perf_counter()
    pool.warm()
    seconds = time.perf_counter() - start
    pool.close()
    return seconds


def bench_sandbox(runs: int, files: list[Path] | None = None) -> dict[str, Any]:
    from ingestq.embed import make_embedder

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    files = files or corpus_pdfs()
    embedder = make_embedder("all-MiniLM-L6-v2")
    one_burst(files[:2], embedder, sandboxed=True)  # warm every cache once
    times: dict[str, list[float]] = {"sandbox": [], "in_process": []}
    for _ in range(runs):
        times["in_process"].append(one_burst(files, embedder, sandboxed=False))
        times["sandbox"].append(one_burst(files, embedder, sandboxed=True))
    sandbox, in_process = (statistics.median(times[k]) for k in ("sandbox", "in_process"))
    return {
        "files": len(files),
        "sandbox_s": sandbox,
        "in_process_s": in_process,
        "overhead": sandbox / in_process - 1,
        "all_s": times,
        "parser_start_s": parser_start_s(),
        "goal_overhead": 0.03,
        "runs": runs,
    }
