"""``ingestq extract``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.config import load_settings


@app.command()
def extract(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="A PDF file.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the clean text ingestq would chunk for a PDF, page by page.

    Nothing is ingested. Use it to see why a document is not found: the text
    here is exactly what gets embedded.

    Example: ingestq extract report.pdf | less
    """
    from ingestq.extract import extract as run_extract

    doc = run_extract(path, load_settings().max_file_bytes)
    if as_json:
        render.print_json({"title": doc.title, "pages": doc.pages})
        return
    for page in doc.pages:
        render.out.print(f"[bold]── page {page['page']} ──[/]")
        render.out.print(escape(str(page["text"])), soft_wrap=True)
