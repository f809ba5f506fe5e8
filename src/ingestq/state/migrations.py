"""Append-only schema migrations for ``state.db``.

Each migration is a function of a :class:`sqlite_utils.Database`. Never edit or
reorder one that has shipped: add a new one at the end. ``PRAGMA user_version``
records how many have run, which lets :mod:`ingestq.state.db` check the schema with
the standard library alone and import sqlite-utils only when there is work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Migration = Callable[[Any], None]


def m001_jobs_and_events(db: Any) -> None:
    db["jobs"].create(
        {
            "id": str,
            "kind": str,  # pdf | url
            "source": str,  # what the user gave: a path or a URL
            "collection": str,
            "state": str,
            "stage": str,
            "progress": float,
            "attempts": int,
            "error": str,
            "vector_count": int,
            "topics": str,  # JSON list
            "content_hash": str,  # SHA-256 of the bytes ingested
            "size_bytes": int,
            "pages": int,
            "options": str,  # JSON: per-job chunking options
            "queued_at": str,
            "started_at": str,
            "completed_at": str,
            "updated_at": str,
            "lease_owner": str,
            "heartbeat_at": str,
        },
        pk="id",
        not_null={"kind", "source", "collection", "state", "queued_at"},
        defaults={"progress": 0.0, "attempts": 0, "vector_count": 0, "topics": "[]"},
    )
    db["jobs"].create_index(["queued_at"])
    db["jobs"].create_index(["state"])
    db["jobs"].create_index(["collection", "content_hash"])
    db["events"].create(
        {"id": int, "job_id": str, "at": str, "event": str, "message": str, "data": str},
        pk="id",
        not_null={"job_id", "at", "event"},
        foreign_keys=[("job_id", "jobs", "id")],
    )
    db["events"].create_index(["job_id", "id"])


def m002_web_fields(db: Any) -> None:
    # Scraped pages: the document title and the URL after redirects.
    db["jobs"].add_column("title", str)
    db["jobs"].add_column("final_url", str)
    db["jobs"].create_index(["collection", "kind", "source"])


def m003_not_before(db: Any) -> None:
    # A job is not run before this time: a delayed job, or a retry waiting out its backoff.
    db["jobs"].add_column("not_before", str)


def m004_sources(db: Any) -> None:
    # A source is a document by identity (a file's path, a URL) in a collection: what
    # its chunks currently come from, so re-ingesting it can tell unchanged from changed.
    db["sources"].create(
        {
            "collection": str,
            "kind": str,
            "key": str,
            "content_hash": str,
            "job_id": str,
            "etag": str,
            "last_modified": str,
            "updated_at": str,
        },
        pk=("collection", "kind", "key"),
        not_null={"collection", "kind", "key", "job_id"},
    )
    db["jobs"].add_column("unchanged", int, not_null_default=0)


def m005_chunk_reuse(db: Any) -> None:
    # A re-ingest reuses the stored vectors of chunks whose text it has seen:
    # how many it reused and how many it had to embed.
    db["jobs"].add_column("reused", int, not_null_default=0)
    db["jobs"].add_column("embedded", int, not_null_default=0)


def m006_callbacks(db: Any) -> None:
    # The callback outbox: written with the job's end, sent (and retried) afterwards.
    db["callbacks"].create(
        {
            "id": int,
            "job_id": str,
            "url": str,
            "body": str,  # the exact JSON sent, so a retry signs the same bytes
            "state": str,  # pending | delivered | gave_up
            "attempts": int,
            "next_at": str,
            "last_error": str,
            "created_at": str,
            "delivered_at": str,
        },
        pk="id",
        not_null={"job_id", "url", "body", "state", "next_at"},
        foreign_keys=[("job_id", "jobs", "id")],
    )
    db["callbacks"].create_index(["state", "next_at"])


def m007_lexical_index(db: Any) -> None:
    # Every chunk's text beside its vector, for keyword search: the rows, and an
    # FTS5 index over their searchable terms (see state/lexical.py).
    db["chunks"].create(
        {
            "id": int,
            "chunk_id": str,  # the vector store's id: "<job>:<index>"
            "job_id": str,
            "collection": str,
            "source": str,
            "chunk_index": int,
            "page": int,
            "section": str,
            "text": str,
        },
        pk="id",
        not_null={"chunk_id", "job_id", "collection", "source", "text"},
    )
    db["chunks"].create_index(["chunk_id"], unique=True)
    db["chunks"].create_index(["collection", "job_id"])
    db["chunks"].create_index(["collection", "source"])
    db.execute(
        "CREATE VIRTUAL TABLE chunks_fts USING fts5(terms,"
        " tokenize = 'unicode61 remove_diacritics 2 tokenchars _')"
    )


MIGRATIONS: list[Migration] = [
    m001_jobs_and_events,
    m002_web_fields,
    m003_not_before,
    m004_sources,
    m005_chunk_reuse,
    m006_callbacks,
    m007_lexical_index,
]
