"""``ingestq extract``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import Json
from ingestq.config import load_settings


@app.command()
def extract(
    source: Annotated[
        str,
        typer.Argument(
            metavar="PATH|URL", help="A PDF file or an http(s) URL.", show_default=False
        ),
    ],
    as_json: Json = False,
) -> None:
    """Print the clean text ingestq would chunk for a PDF or a web page.

    Nothing is ingested. Use it to see why a document is not found: the text
    here is exactly what gets embedded. A URL is fetched under the worker's
    rules (robots.txt, size and private-network limits).

    Example: ingestq extract report.pdf | less
    """
    from ingestq.ops.extract import Extracted, extract_url
    from ingestq.ops.extract import extract as extract_pdf

    settings = load_settings()
    if source.lower().startswith(("http://", "https://")):
        doc = extract_url(settings, source)
    else:
        doc = extract_pdf(settings, Path(source))
    if as_json:
        render.print_json(asdict(doc))
    elif isinstance(doc, Extracted):
        for page in doc.pages:
            render.out.print(f"[bold]── page {page['page']} ──[/]")
            render.out.print(render.text(str(page["text"])), soft_wrap=True)
    else:
        render.out.print(
            f"[bold]{render.text(doc.title or '(no title)')}[/]  {render.text(doc.final_url)}"
        )
        for section in doc.sections:
            if section["heading"]:
                render.out.print(f"\n[bold]## {render.text(str(section['heading']))}[/]")
            render.out.print(render.text(str(section["text"])), soft_wrap=True)
