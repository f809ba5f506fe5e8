"""``ingestq worker``."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.config import load_settings

if TYPE_CHECKING:
    from ingestq.worker.worker import WorkerRun


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", min=1, help="Jobs to run at once.")
    ] = 1,
    burst: Annotated[
        bool, typer.Option("--burst", help="Process every job that is due now, then exit.")
    ] = False,
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
    30), or puts it back in the queue. A second Ctrl-C stops it at once. Only
    one worker runs per INGESTQ_HOME.

    A burst ends with a summary of the jobs it ran. It exits 0 once the due
    queue is drained, whether or not jobs failed: a cron wrapper alerts on
    `ingestq status --state failed --since 24h`. It exits non-zero only when
    the worker itself fails.

    Example: ingestq worker --burst
    """
    from ingestq.worker.worker import WorkerOptions, run_worker

    _setup_logging(verbose, as_json)
    settings = load_settings()
    logging.getLogger("ingestq").info("worker starting on %s", settings.home)
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
