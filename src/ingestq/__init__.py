"""ingestq: turn documents into a searchable vector store, in the background.

The package is a library first; :mod:`ingestq.cli` is a thin Typer layer over
it. Everything a program needs is here::

    import ingestq

    settings = ingestq.load_settings()
    result = ingestq.add_paths(settings, ["report.pdf"])
    ingestq.run_worker(settings, ingestq.WorkerOptions(burst=True))
    for hit in ingestq.search(settings, "how are retries configured?"):
        print(hit.score, hit.source, hit.page)

Heavy dependencies (torch, sentence-transformers, chromadb) are imported
lazily by the functions that need them, so importing :mod:`ingestq` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingestq.__version__ import __version__

#: Where each public name lives. They are imported on first use (PEP 562): every
#: command of the CLI imports this package, and ``add`` must not pay for the
#: worker's modules.
_PUBLIC = {
    "Settings": "ingestq.config",
    "load_settings": "ingestq.config",
    "ConfigError": "ingestq.errors",
    "IngestqError": "ingestq.errors",
    "JobError": "ingestq.errors",
    "ModelMismatchError": "ingestq.errors",
    "NotFoundError": "ingestq.errors",
    "StateError": "ingestq.errors",
    "UsageError": "ingestq.errors",
    "Answer": "ingestq.ops.ask",
    "ask": "ingestq.ops.ask",
    "cancel_jobs": "ingestq.ops.control",
    "retry_jobs": "ingestq.ops.control",
    "extract": "ingestq.ops.extract",
    "extract_url": "ingestq.ops.extract",
    "ChunkOptions": "ingestq.ops.inputs",
    "SubmitOptions": "ingestq.ops.inputs",
    "start_time": "ingestq.ops.inputs",
    "export": "ingestq.ops.inventory",
    "job_chunks": "ingestq.ops.inventory",
    "list_collections": "ingestq.ops.inventory",
    "remove_jobs": "ingestq.ops.inventory",
    "prune": "ingestq.ops.prune",
    "search": "ingestq.ops.search",
    "stats": "ingestq.ops.stats",
    "job_details": "ingestq.ops.status",
    "recent_jobs": "ingestq.ops.status",
    "AddResult": "ingestq.ops.submit",
    "add_paths": "ingestq.ops.submit",
    "scrape_urls": "ingestq.ops.submit",
    "sync_directory": "ingestq.ops.sync",
    "Job": "ingestq.state.jobs",
    "Hit": "ingestq.ops.search",
    "Searcher": "ingestq.ops.search",
    "sign": "ingestq.webhooks",
    "verify": "ingestq.webhooks",
    "WorkerOptions": "ingestq.worker.worker",
    "run_worker": "ingestq.worker.worker",
}

if TYPE_CHECKING:
    from ingestq.config import Settings, load_settings
    from ingestq.errors import (
        ConfigError,
        IngestqError,
        JobError,
        ModelMismatchError,
        NotFoundError,
        StateError,
        UsageError,
    )
    from ingestq.ops.ask import Answer, ask
    from ingestq.ops.control import cancel_jobs, retry_jobs
    from ingestq.ops.extract import extract, extract_url
    from ingestq.ops.inputs import ChunkOptions, SubmitOptions, start_time
    from ingestq.ops.inventory import export, job_chunks, list_collections, remove_jobs
    from ingestq.ops.prune import prune
    from ingestq.ops.search import Hit, Searcher, search
    from ingestq.ops.stats import stats
    from ingestq.ops.status import job_details, recent_jobs
    from ingestq.ops.submit import AddResult, add_paths, scrape_urls
    from ingestq.ops.sync import sync_directory
    from ingestq.state.jobs import Job
    from ingestq.webhooks import sign, verify
    from ingestq.worker.worker import WorkerOptions, run_worker


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'ingestq' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found once, then a plain attribute
    return value


__all__ = [
    "AddResult",
    "Answer",
    "ChunkOptions",
    "ConfigError",
    "Hit",
    "IngestqError",
    "Job",
    "JobError",
    "ModelMismatchError",
    "NotFoundError",
    "Searcher",
    "Settings",
    "StateError",
    "SubmitOptions",
    "UsageError",
    "WorkerOptions",
    "__version__",
    "add_paths",
    "ask",
    "cancel_jobs",
    "export",
    "extract",
    "extract_url",
    "job_chunks",
    "job_details",
    "list_collections",
    "load_settings",
    "prune",
    "recent_jobs",
    "remove_jobs",
    "retry_jobs",
    "run_worker",
    "scrape_urls",
    "search",
    "sign",
    "start_time",
    "stats",
    "sync_directory",
    "verify",
]
