"""``ingestq worker``."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app, exit_at_once
from ingestq.config import device_setting, load_settings

if TYPE_CHECKING:
    from ingestq.worker.worker import WorkerRun


@app.command()
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-n",
            min=1,
            help="Jobs to run at once, in a burst too; their texts share the model's batches.",
        ),
    ] = 2,
    burst: Annotated[
        bool, typer.Option("--burst", help="Process every job that is due now, then exit.")
    ] = False,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            metavar="DEVICE",
            help="Embed on auto, cpu, cuda, cuda:N or mps, whatever INGESTQ_DEVICE says.",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Log JSON lines; with --burst, end with the jobs it ran as JSON."
        ),
    ] = False,
) -> None:
    """Run jobs from the queue: parse, chunk, embed and index them.

    Loads the embedding model and the vector store once, then works until
    stopped. Ctrl-C or SIGTERM stops it cleanly: it takes nothing new and
    finishes the job in flight within INGESTQ_SHUTDOWN_GRACE seconds (default
    30), or puts it back in the queue. A second Ctrl-C stops it at once. On an
    embedded home one worker runs at a time; with the state, queue and vectors
    on servers (INGESTQ_DATABASE_URL, INGESTQ_QUEUE_URL, INGESTQ_CHROMA_URL),
    run as many as you like, on as many hosts.

    A burst ends with a summary of the jobs it ran. It exits 0 once the due
    queue is drained, whether or not jobs failed: a cron wrapper alerts on
    `ingestq status --state failed --since 24h`. It exits non-zero only when
    the worker itself fails, or meets a collection built with another model:
    then it puts that job back and stops with exit 2.

    The start line names the device the model runs on, its memory, the
    precision and the batch: INGESTQ_DEVICE=auto (the default) takes CUDA, then
    MPS, then the CPU; --device overrides it for this worker. A device that runs
    out of memory halves the batch and goes on.

    Example: ingestq worker --burst --device cpu
    """
    from ingestq.worker.worker import WorkerOptions, run_worker

    _setup_logging(verbose, as_json)
    settings = load_settings()
    if device is not None:
        settings = replace(settings, device=device_setting(device, "--device"))
    # Everything is recorded before run_worker returns or raises; the teardown
    # left is ONNX Runtime's and Chroma's, which can abort the process while a
    # job thread that outlived a forced stop is still in native code.
    exit_at_once()
    run = run_worker(settings, WorkerOptions(concurrency=concurrency, burst=burst))
    if burst:
        _summary(run, as_json)


_PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _setup_logging(verbose: bool, as_json: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonLines() if as_json else logging.Formatter(_PLAIN))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    if not verbose:
        for noisy in ("huey", "chromadb", "httpx", "sentence_transformers"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def _summary(run: WorkerRun, as_json: bool) -> None:
    if as_json:
        jobs = [
            {"id": j.id, "source": j.source, "state": j.state, "error": j.error} for j in run.jobs
        ]
        render.print_json({"deliveries": run.deliveries, "counts": run.counts(), "jobs": jobs})
        return
    counts = ", ".join(f"{n} {state}" for state, n in sorted(run.counts().items()))
    render.err.print(f"burst done: {len(run.jobs)} jobs ran" + (f" ({counts})" if counts else ""))


class _JsonLines(logging.Formatter):
    """One JSON object a line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)
