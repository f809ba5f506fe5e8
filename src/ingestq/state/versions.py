"""Versions: what each document's chunks currently come from.

A document is known by its kind (``pdf`` or ``url``), its key (the file's
resolved path, the normalised URL) and its collection. Its current
:class:`Version` names the job whose chunks are in the store, the content hash
they came from and, for URLs, the validators the server sent (``ETag``,
``Last-Modified``) for the next conditional GET. A re-ingest compares against
it to tell unchanged from changed. A version is written only when a job
completes, so it always describes chunks that exist. (The table is called
``sources``, after the documents it tracks.)
"""

from __future__ import annotations

from dataclasses import dataclass

from ingestq.state.db import Database
from ingestq.times import now


@dataclass(frozen=True)
class Version:
    collection: str
    kind: str
    key: str
    content_hash: str | None
    job_id: str
    etag: str | None = None
    last_modified: str | None = None


_COLUMNS = "collection, kind, key, content_hash, job_id, etag, last_modified"


def current(db: Database, collection: str, kind: str, key: str) -> Version | None:
    """The document's current version, or None if it has none."""
    row = db.fetchone(
        f"SELECT {_COLUMNS} FROM sources WHERE collection = ? AND kind = ? AND key = ?",
        (collection, kind, key),
    )
    return Version(**row) if row else None


def current_many(db: Database, collection: str, kind: str, keys: list[str]) -> dict[str, Version]:
    """The current version of each of the documents ``keys`` that has one."""
    found: dict[str, Version] = {}
    for start in range(0, len(keys), 500):  # well under SQLite's parameter limit
        batch = keys[start : start + 500]
        rows = db.fetchall(
            f"SELECT {_COLUMNS} FROM sources WHERE collection = ? AND kind = ?"
            f" AND key IN ({','.join('?' * len(batch))})",
            (collection, kind, *batch),
        )
        found.update((r["key"], Version(**r)) for r in rows)
    return found


def record(db: Database, version: Version) -> None:
    """Make ``version`` current (call inside the caller's transaction)."""
    db.execute(
        f"INSERT INTO sources ({_COLUMNS}, updated_at) VALUES (?,?,?,?,?,?,?,?)"
        " ON CONFLICT (collection, kind, key) DO UPDATE"
        " SET content_hash = excluded.content_hash, job_id = excluded.job_id,"
        " etag = excluded.etag, last_modified = excluded.last_modified,"
        " updated_at = excluded.updated_at",
        (
            version.collection,
            version.kind,
            version.key,
            version.content_hash,
            version.job_id,
            version.etag,
            version.last_modified,
            now(),
        ),
    )


def forget(db: Database, collection: str, kind: str, key: str) -> None:
    """Drop a document whose chunks are gone (call inside the caller's transaction)."""
    db.execute(
        "DELETE FROM sources WHERE collection = ? AND kind = ? AND key = ?", (collection, kind, key)
    )


def files_under(db: Database, collection: str, directory: str) -> dict[str, str | None]:
    """The current content hash of every file the collection holds below ``directory``."""
    escaped = directory.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = db.fetchall(
        "SELECT key, content_hash FROM sources WHERE collection = ? AND kind = 'pdf'"
        " AND key LIKE ? ESCAPE '\\'",
        (collection, escaped.rstrip("/") + "/%"),
    )
    return {r["key"]: r["content_hash"] for r in rows}


def documents_per_collection(db: Database) -> dict[str, int]:
    """How many documents each collection holds."""
    rows = db.fetchall("SELECT collection, count(*) AS n FROM sources GROUP BY collection")
    return {r["collection"]: int(r["n"]) for r in rows}
