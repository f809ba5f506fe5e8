"""``ingestq search``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.config import DEFAULT_COLLECTION, load_settings

SNIPPET_CHARS = 240


@app.command()
def search(
    query: Annotated[
        str,
        typer.Argument(
            metavar="QUERY", help="What to look for, in plain words.", show_default=False
        ),
    ],
    k: Annotated[int, typer.Option("-k", min=1, help="How many results.")] = 5,
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to search.")
    ] = DEFAULT_COLLECTION,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search what was ingested: the closest chunks, ranked, with source and page.

    The score is the cosine similarity between the query and the chunk (1 is identical).

    Example: ingestq search "how are retries configured?" -k 3
    """
    from ingestq.ops.search import search as run_search

    hits = run_search(load_settings(), query, k=k, collection=collection)
    if as_json:
        render.print_json(
            [{key: v for key, v in asdict(h).items() if key != "chunk_index"} for h in hits]
        )
        return
    if not hits:
        render.out.print("no results")
        return
    for hit in hits:
        page = f", page {hit.page}" if hit.page else ""
        source = render.text(hit.source)
        render.out.print(f"[bold]{hit.rank}.[/] [green]{hit.score:.3f}[/]  [cyan]{source}[/]{page}")
        snippet = " ".join(hit.text.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1] + "…"
        render.out.print(f"   {render.text(snippet)}\n")
