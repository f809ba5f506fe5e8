"""``ingestq search``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app, exit_at_once
from ingestq.cli.options import Json
from ingestq.config import DEFAULT_COLLECTION, load_settings

if TYPE_CHECKING:
    from ingestq.ops.search import Hit


@app.command()
def search(
    query: Annotated[
        str,
        typer.Argument(
            metavar="QUERY",
            help="What to look for: words, a question, or identifiers as typed."
            " '-' reads one query a line from standard input.",
            show_default=False,
        ),
    ],
    k: Annotated[int, typer.Option("-k", min=1, help="How many results.")] = 5,
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to search.")
    ] = DEFAULT_COLLECTION,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            "-m",
            help="hybrid (both, fused), vector (by meaning) or lexical (by keyword, BM25).",
        ),
    ] = "hybrid",
    as_json: Json = False,
) -> None:
    """Search what was ingested: the best chunks, ranked, with source, page and section.

    By default a hybrid of meaning (the embedding model) and keywords (BM25, with
    identifiers such as json.dumps or --chunk-tokens kept whole), fused by rank.
    With QUERY '-', reads one query a line from standard input and writes one JSON
    line per query ({"query", "results"}), loading everything once. Put -- before
    a query that starts with a dash: ingestq search -- --chunk-tokens

    Example: ingestq search "how are retries configured?" -k 3
    """
    from ingestq.ops.search import Searcher, check_query

    if query != "-":
        check_query(query, k)
    with Searcher(load_settings(), collection, mode) as searcher:
        if query == "-":
            for line in sys.stdin:
                if line.strip():
                    hits = searcher.search(line.strip(), k)
                    results = [h.to_dict(line.strip()) for h in hits]
                    sys.stdout.write(json.dumps({"query": line.strip(), "results": results}) + "\n")
                    sys.stdout.flush()
        else:
            _show(searcher.search(query, k), query, as_json)
    # Read-only: nothing to tear down but Chroma's client and the model's runtime.
    exit_at_once()


def _show(hits: list[Hit], query: str, as_json: bool) -> None:
    if as_json:
        render.print_json([h.to_dict(query) for h in hits])
        return
    if not hits:
        render.out.print("no results")
        return
    for hit in hits:
        where = f", page {hit.page}" if hit.page else ""
        where += f", {render.text(hit.section)}" if hit.section else ""
        source = render.text(hit.source)
        render.out.print(
            f"[bold]{hit.rank}.[/] [green]{hit.score:.3f}[/]  [cyan]{source}[/]{where}"
        )
        render.out.print(f"   {render.text(hit.snippet(query))}\n")
