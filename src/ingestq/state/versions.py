"""Sources: documents by identity, so a re-ingest knows unchanged from changed.

A source is a kind (``pdf`` or ``url``), a key (the file's resolved path, the
normalised URL) and a collection. Its row names the job whose chunks are
current, the content hash they came from and, for URLs, the validators the
server sent (``ETag``, ``Last-Modified``) for the next conditional GET. A row
is written only when a job completes, so it always describes chunks that exist.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ingestq.db import utcnow


@dataclass(frozen=True)
class Source:
    collection: str
    kind: str
    key: str
    content_hash: str | None
    job_id: str
    etag: str | None = None
    last_modified: str | None = None


def get(conn: sqlite3.Connection, collection: str, kind: str, key: str) -> Source | None:
    row = conn.execute(
        "SELECT collection, kind, key, content_hash, job_id, etag, last_modified FROM sources"
        " WHERE collection = ? AND kind = ? AND key = ?",
        (collection, kind, key),
    ).fetchone()
    return Source(*row) if row else None


def record(conn: sqlite3.Connection, source: Source) -> None:
    """Make ``source`` current (call inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO sources (collection, kind, key, content_hash, job_id, etag, last_modified,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (collection, kind, key) DO UPDATE"
        " SET content_hash = excluded.content_hash, job_id = excluded.job_id,"
        " etag = excluded.etag, last_modified = excluded.last_modified,"
        " updated_at = excluded.updated_at",
        (
            source.collection,
            source.kind,
            source.key,
            source.content_hash,
            source.job_id,
            source.etag,
            source.last_modified,
            utcnow(),
        ),
    )


def forget(conn: sqlite3.Connection, collection: str, kind: str, key: str) -> None:
    """Drop a source whose chunks are gone (call inside the caller's transaction)."""
    conn.execute(
        "DELETE FROM sources WHERE collection = ? AND kind = ? AND key = ?", (collection, kind, key)
    )
