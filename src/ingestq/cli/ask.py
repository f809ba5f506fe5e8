"""``ingestq ask``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app, exit_at_once
from ingestq.cli.options import Json
from ingestq.config import DEFAULT_COLLECTION, load_settings


@app.command()
def ask(
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="What to ask.")],
    k: Annotated[int, typer.Option("-k", min=1, help="How many chunks to give the LLM.")] = 6,
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to ask.")
    ] = DEFAULT_COLLECTION,
    as_json: Json = False,
) -> None:
    """Answer QUESTION from the indexed documents with the configured LLM, citing sources.

    Retrieves the top chunks, asks the LLM (INGESTQ_LLM_MODEL on the
    OpenAI-compatible endpoint at OPENAI_BASE_URL) to answer only from them and
    to cite them as [source p.N], and streams the answer as it arrives.

    Example: ingestq ask "how are retries configured?"
    """
    from ingestq.ops.ask import ask as run_ask

    answer = run_ask(load_settings(), question, k=k, collection=collection)
    # Read-only, as search is: skip tearing down Chroma, the model and the client.
    exit_at_once()
    if as_json:
        text = "".join(answer.stream())
        render.print_json({"answer": text, "sources": answer.cited() or answer.labels})
        return
    for part in answer.stream():
        sys.stdout.write(render.clean(part))  # an LLM's words are no terminal commands
        sys.stdout.flush()
    sys.stdout.write("\n")
    cited = answer.cited()
    render.out.print("\n[bold]Sources[/]" + ("" if cited else " (retrieved; none cited)"))
    for item in cited or answer.labels:
        render.out.print(f"  {render.text(item)}")
