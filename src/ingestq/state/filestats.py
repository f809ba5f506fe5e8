"""What ``add --sync`` last saw of each file, so that the next sync reads only what changed.

Like git's index: a file's size, modification and change times (nanoseconds)
and inode, with the SHA-256 its bytes had then, per collection and path. A
record is a cache of "these bytes hash to this", never a claim that they are
ingested: the sync still compares the hash with the collection's documents
(``sources``) and its waiting jobs. That is why the record has a table of its
own rather than columns on ``sources``, whose rows are written only when a job
completes; a record is written when the sync hashes the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingestq.state.db import Database
from ingestq.state.jobs import ACTIVE_STATES


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int
    ino: int
    ctime_ns: int
    content_hash: str
    #: When the sync that recorded it began (ns since the epoch): the racy-write guard.
    seen_ns: int


_COLUMNS = "size, mtime_ns, ino, ctime_ns, content_hash, seen_ns"


def _below(directory: str) -> tuple[str, str]:
    """Bounds of the paths below ``directory``: a range the primary key can serve."""
    prefix = directory.rstrip("/") + "/"
    return prefix, prefix[:-1] + chr(ord("/") + 1)


def under(db: Database, collection: str, directory: str) -> dict[str, FileStat]:
    """The records of the files below ``directory``."""
    low, high = _below(directory)
    rows = db.fetchall(
        f"SELECT path, {_COLUMNS} FROM file_stats WHERE collection = ? AND path >= ? AND path < ?",
        (collection, low, high),
    )
    return {r.pop("path"): FileStat(**r) for r in rows}


def save(db: Database, collection: str, records: Iterable[tuple[str, FileStat]]) -> None:
    """Write (or replace) records, all in one transaction."""
    rows = [
        (collection, path, s.size, s.mtime_ns, s.ino, s.ctime_ns, s.content_hash, s.seen_ns)
        for path, s in records
    ]
    if not rows:
        return
    with db.transaction():
        db.executemany(
            f"INSERT INTO file_stats (collection, path, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)"
            " ON CONFLICT (collection, path) DO UPDATE SET size = excluded.size,"
            " mtime_ns = excluded.mtime_ns, ino = excluded.ino, ctime_ns = excluded.ctime_ns,"
            " content_hash = excluded.content_hash, seen_ns = excluded.seen_ns",
            rows,
        )


def forget(db: Database, collection: str, paths: Iterable[str]) -> None:
    """Drop the records of files that are gone, all in one transaction."""
    rows = [(collection, path) for path in paths]
    if rows:
        with db.transaction():
            db.executemany("DELETE FROM file_stats WHERE collection = ? AND path = ?", rows)


def waiting_under(db: Database, collection: str, directory: str) -> dict[str, str | None]:
    """The content hash of each file below ``directory`` with a job queued or running.

    The newest job wins when a path has several.
    """
    low, high = _below(directory)
    marks = ",".join("?" * len(ACTIVE_STATES))
    rows = db.fetchall(
        "SELECT source, content_hash FROM jobs WHERE collection = ? AND kind = 'pdf'"
        f" AND source >= ? AND source < ? AND state IN ({marks}) ORDER BY queued_at, id",
        (collection, low, high, *ACTIVE_STATES),
    )
    return {r["source"]: r["content_hash"] for r in rows}


def failed_under(db: Database, collection: str, directory: str) -> set[str]:
    """The files below ``directory`` with a failed job (the newest may be another)."""
    low, high = _below(directory)
    rows = db.fetchall(
        "SELECT DISTINCT source FROM jobs WHERE collection = ? AND kind = 'pdf'"
        " AND source >= ? AND source < ? AND state = 'failed'",
        (collection, low, high),
    )
    return {r["source"] for r in rows}
