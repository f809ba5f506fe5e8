"""Blobs in the state database: content-addressed bytes, in parts of about 1 MB.

A blob is written as an *upload*: its parts first, each its own short statement
under a fresh upload id (so a slow stream never holds the writers' lock, and no
transaction holds a whole file), then one row of ``blobs`` that names the digest
and the upload. Readers reach parts only through that row, so they never see a
partial blob. Two hosts storing the same bytes at once each write an upload; the
row written first wins, and the other upload's parts are deleted. Parts of an
upload that never got its row (a process killed mid-put) are swept by ``prune``.

:class:`~ingestq.store.pgblobs.PgBlobStore` is the blob store made of these.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingestq.state.db import Database
from ingestq.times import now


@dataclass(frozen=True)
class BlobRow:
    """A stored blob: where its parts are and how they are cut."""

    digest: str
    size: int
    parts: int
    part_size: int
    upload: str
    stored_at: str


def write_part(db: Database, upload: str, n: int, data: bytes) -> None:
    """Store part ``n`` of ``upload``; nobody reads it until :func:`finish` names it."""
    db.execute(
        "INSERT INTO blob_parts (upload, n, data, written_at) VALUES (?, ?, ?, ?)",
        (upload, n, data, now()),
    )


def finish(db: Database, digest: str, size: int, parts: int, part_size: int, upload: str) -> bool:
    """Make ``upload`` the blob ``digest``, in one statement.

    If ``digest`` is stored already (by an earlier put, or by another host a moment
    ago), it stays as it is but for its ``stored_at``, refreshed so ``prune`` does
    not take it for an old orphan; this upload's parts are then deleted and the
    answer is False.
    """
    # fetchall, not fetchone: SQLite commits an INSERT ... RETURNING only once
    # every row of it has been read.
    [row] = db.fetchall(
        "INSERT INTO blobs (digest, size, parts, part_size, upload, stored_at)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (digest) DO UPDATE SET stored_at = excluded.stored_at"
        " RETURNING upload",
        (digest, size, parts, part_size, upload, now()),
    )
    if row["upload"] == upload:
        return True
    discard(db, upload)
    return False


def touch(db: Database, digest: str) -> bool:
    """Refresh the ``stored_at`` of ``digest``; False if it is not stored."""
    return db.execute("UPDATE blobs SET stored_at = ? WHERE digest = ?", (now(), digest)) > 0


def discard(db: Database, upload: str) -> None:
    """Delete the parts of an upload that will never be named (a failed or a lost put)."""
    db.execute("DELETE FROM blob_parts WHERE upload = ?", (upload,))


def find(db: Database, digest: str) -> BlobRow | None:
    """The blob ``digest``, or None if it is not stored."""
    row = db.fetchone(
        "SELECT digest, size, parts, part_size, upload, stored_at FROM blobs WHERE digest = ?",
        (digest,),
    )
    return BlobRow(**row) if row else None


def read_part(db: Database, upload: str, n: int) -> bytes | None:
    """Part ``n`` of ``upload``, or None if it is gone (the blob was deleted meanwhile)."""
    row = db.fetchone("SELECT data FROM blob_parts WHERE upload = ? AND n = ?", (upload, n))
    return bytes(row["data"]) if row else None


def delete(db: Database, digest: str) -> bool:
    """Delete the blob ``digest`` and its parts; False if it was not stored."""
    with db.transaction():
        row = db.fetchone("SELECT upload FROM blobs WHERE digest = ?", (digest,))
        if row is None:
            return False
        db.execute("DELETE FROM blobs WHERE digest = ?", (digest,))
        discard(db, row["upload"])
    return True


def stored_before(db: Database, horizon: str) -> list[str]:
    """Digests of blobs last stored before ``horizon`` (a stored-format time)."""
    rows = db.fetchall("SELECT digest FROM blobs WHERE stored_at < ? ORDER BY digest", (horizon,))
    return [row["digest"] for row in rows]


def lost_uploads(db: Database, horizon: str) -> dict[str, int]:
    """Uploads no blob names whose last part was written before ``horizon``: their bytes.

    An upload still being written has a recent part, however long it has run.
    """
    rows = db.fetchall(
        "SELECT upload, sum(length(data)) AS bytes FROM blob_parts p"
        " WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.upload = p.upload)"
        " GROUP BY upload HAVING max(written_at) < ?",
        (horizon,),
    )
    return {row["upload"]: int(row["bytes"] or 0) for row in rows}
