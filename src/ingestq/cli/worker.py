"""``ingestq worker``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from ingestq.cli.app import app
from ingestq.config import load_settings


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", min=1, help="Jobs to run at once.")
    ] = 1,
    burst: Annotated[
        bool, typer.Option("--burst", help="Process every job that is due now, then exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    """Run jobs from the queue: parse, chunk, embed and index them.

    Loads the embedding model and the vector store once, then works until
    stopped. Ctrl-C or SIGTERM stops it cleanly: it takes nothing new and
    finishes the job in flight within INGESTQ_SHUTDOWN_GRACE seconds (default
    30), or puts it back in the queue. A second Ctrl-C stops it at once. Only
    one worker runs per INGESTQ_HOME.

    Example: ingestq worker --burst
    """
    from ingestq.worker import WorkerOptions, run_worker

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        for noisy in ("huey", "chromadb", "httpx", "sentence_transformers"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = load_settings()
    logging.getLogger("ingestq").info("worker starting on %s", settings.home)
    run_worker(settings, WorkerOptions(concurrency=concurrency, burst=burst))
