"""``ingestq migrate-home``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import Json
from ingestq.config import load_settings


def _url(flag: str, variable: str, what: str) -> object:
    return typer.Option(
        flag,
        metavar="URL",
        show_default=False,
        help=f"{what} (default: {variable}).",
    )


@app.command("migrate-home")
def migrate_home(
    to_database: Annotated[
        str | None, _url("--to-database", "INGESTQ_DATABASE_URL", "The PostgreSQL server")
    ] = None,
    to_chroma: Annotated[
        str | None, _url("--to-chroma", "INGESTQ_CHROMA_URL", "The Chroma server")
    ] = None,
    to_queue: Annotated[
        str | None, _url("--to-queue", "INGESTQ_QUEUE_URL", "The Redis server")
    ] = None,
    as_json: Json = False,
) -> None:
    """Copy the embedded home onto servers, without embedding anything again.

    The state (jobs, their history, callbacks, documents and the lexical index)
    goes to PostgreSQL, the vectors with their stored embeddings and metadata to
    the Chroma server, and jobs still waiting to the Redis queue; stored copies
    of documents go to the blob store the target configuration uses. The home
    is INGESTQ_HOME. Each URL defaults to the
    variable a worker on the servers reads, so with those set, `ingestq
    migrate-home` alone moves the home onto them; the Chroma tenant and
    database and the queue's name come from INGESTQ_CHROMA_TENANT,
    INGESTQ_CHROMA_DATABASE and INGESTQ_QUEUE_NAME.

    Stop the worker first: the home's worker lock is held while it copies.
    Running it again is safe: what the target holds already is skipped, the
    rest is added. A target that holds jobs of another deployment is refused.
    The home itself is left as it was.

    Example: ingestq migrate-home --to-database postgresql://iq@db/iq --to-chroma http://db:8000
    """
    from ingestq.ops.migrate import embedded
    from ingestq.ops.migrate import migrate_home as run

    overrides = {
        "INGESTQ_DATABASE_URL": to_database,
        "INGESTQ_CHROMA_URL": to_chroma,
        "INGESTQ_QUEUE_URL": to_queue,
    }
    env = dict(os.environ) | {k: v for k, v in overrides.items() if v is not None}
    source, target = embedded(load_settings()), load_settings(env)
    say = None if as_json else (lambda line: render.err.print(render.text(line), soft_wrap=True))
    report = run(source, target, say)
    if as_json:
        render.print_json(report.to_dict())
        return
    t = render.table("part", "in the home", "copied", "already there")
    rows = [(name, c) for name, c in report.tables.items()]
    rows += [("blobs", report.blobs)]
    rows += [(f"vectors {name!r}", c) for name, c in report.vectors.items()]
    for name, c in rows:
        t.add_row(render.text(name), str(c.rows), str(c.added), str(c.present))
    render.out.print(t)
    if report.blobs_missing:
        render.warn(f"{report.blobs_missing} blob(s) named by jobs were not in the home")
    render.out.print(
        f"moved {render.text(report.source)} to {render.text(', '.join(report.target.values()))};"
        f" {report.enqueued} waiting job(s) enqueued there"
    )
