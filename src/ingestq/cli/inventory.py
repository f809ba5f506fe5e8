"""``ingestq collections``, ``chunks``, ``export`` and ``remove``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import Json
from ingestq.config import DEFAULT_COLLECTION, load_settings


@app.command()
def collections(as_json: Json = False) -> None:
    """List collections with their document and chunk counts and embedding model.

    Example: ingestq collections
    """
    from ingestq.ops.inventory import list_collections

    found = list_collections(load_settings())
    if as_json:
        render.print_json([c.__dict__ for c in found])
        return
    t = render.table("collection", "documents", "chunks", "model")
    for c in found:
        t.add_row(render.text(c.name), str(c.documents), str(c.chunks), render.text(c.model or "?"))
    render.out.print(t if found else "no collections yet")


@app.command()
def chunks(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="A job id or unique prefix.")],
    as_json: Json = False,
) -> None:
    """Print a job's stored chunks in order: exactly what was indexed.

    Each chunk shows its id, page (or section), token count and text.

    Example: ingestq chunks 01JD3QX --json
    """
    from ingestq.ops.inventory import job_chunks

    job, found = job_chunks(load_settings(), job_id)
    if as_json:
        render.print_json([c.__dict__ for c in found])
        return
    for c in found:
        where = f"section {c.section!r}" if c.section else _pages(c.page, c.page_end)
        render.out.print(f"[bold]{c.id}[/]  {where}  {c.tokens or '?'} tokens")
        render.out.print(render.text(c.text), highlight=False)
        render.out.print()
    if not found:
        render.out.print(f"job {job.id} has no stored chunks ({job.state})")


def _pages(start: int | None, end: int | None) -> str:
    if start is None:
        return ""
    return f"page {start}" if end in (None, start) else f"pages {start}-{end}"


@app.command()
def export(
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to export.")
    ] = DEFAULT_COLLECTION,
    vectors: Annotated[bool, typer.Option("--vectors", help="Include each embedding.")] = False,
) -> None:
    """Write one JSON line per chunk (id, text, metadata) to standard output.

    For moving data into other tools; --vectors adds each chunk's embedding.

    Example: ingestq export --collection default --vectors > out.jsonl
    """
    from ingestq.ops.inventory import export as run_export

    for record in run_export(load_settings(), collection, vectors=vectors):
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


@app.command()
def remove(
    job_ids: Annotated[
        list[str], typer.Argument(metavar="JOB_ID...", help="Job ids or unique prefixes.")
    ],
    as_json: Json = False,
) -> None:
    """Delete jobs with their chunks, stored copy, events and callbacks.

    A processing job must be cancelled first. A stored copy that another job
    or a source still uses is kept.

    Example: ingestq remove 01JD3QX
    """
    from ingestq.ops.inventory import remove_jobs
    from ingestq.ops.views import job_removed

    gone = remove_jobs(load_settings(), job_ids)
    if as_json:
        render.print_json([job_removed(j) for j in gone])
        return
    for j in gone:
        render.out.print(f"removed {j.id} {render.text(j.source)} ({j.vector_count} chunks)")
