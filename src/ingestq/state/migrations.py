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


def m008_workers_and_leases(db: Any) -> None:
    # Workers that share a state database: who runs where (with which queue and
    # vector store), seen when; and the leases by which one of them at a time does the
    # periodic work (recovery) that all of them could do.
    db["workers"].create(
        {
            "owner": str,  # host:pid, as jobs' lease_owner
            "host": str,
            "pid": int,
            "setup": str,  # JSON: where its queue and vectors are (see worker/fleet.py)
            "started_at": str,
            "seen_at": str,
        },
        pk="owner",
        not_null={"owner", "host", "pid", "setup", "started_at", "seen_at"},
    )
    db["leases"].create(
        {"name": str, "owner": str, "until_at": str},
        pk="name",
        not_null={"name", "owner", "until_at"},
    )


def m009_blobs(db: Any) -> None:
    # Blobs in the database, for when it is a server that every host reaches (see
    # state/blobdata.py). An embedded home keeps its blobs as files; the tables are
    # made here too, so both databases hold the same schema at the same number.
    db["blobs"].create(
        {
            "digest": str,  # SHA-256, hex
            "size": int,
            "parts": int,
            "part_size": int,  # every part but the last holds this many bytes
            "upload": str,  # the upload whose parts hold the bytes
            "stored_at": str,  # last put: prune spares a blob that was just stored again
        },
        pk="digest",
        not_null={"digest", "size", "parts", "part_size", "upload", "stored_at"},
    )
    db["blobs"].create_index(["upload"], unique=True)
    db["blobs"].create_index(["stored_at"])
    db["blob_parts"].create(
        {"upload": str, "n": int, "data": bytes, "written_at": str},
        pk=("upload", "n"),
        not_null={"upload", "n", "data", "written_at"},
    )


def m010_tokens_and_owners(db: Any) -> None:
    # The HTTP API (`ingestq serve`): its tokens, each stored as the SHA-256 of the
    # secret (never the secret), and who owns each job. A job's owner is the
    # token's owner that submitted it; NULL means the local CLI, the admin.
    db["tokens"].create(
        {
            "id": str,  # public: the token's prefix, to look it up and to revoke it
            "owner": str,
            "digest": str,  # hex SHA-256 of the whole token
            "admin": int,
            "created_at": str,
            "revoked_at": str,
            "last_used_at": str,
        },
        pk="id",
        not_null={"id", "owner", "digest", "admin", "created_at"},
    )
    db["tokens"].create_index(["owner"])
    db["jobs"].add_column("owner", str)
    db["jobs"].create_index(["owner", "queued_at"])


def m011_shared_rate_limits(db: Any) -> None:
    # The API's rate limits, shared by every `serve` process on this database and
    # kept across restarts: one token bucket per (scope, subject), its level and
    # when it was last refilled (epoch seconds). See ingestq.state.ratelimits.
    db["rate_limits"].create(
        {"scope": str, "subject": str, "tokens": float, "refilled_at": float, "granted": int},
        pk=("scope", "subject"),
        not_null={"scope", "subject", "tokens", "refilled_at", "granted"},
    )


def m012_file_stats_and_lookups(db: Any) -> None:
    # What `add --sync` last saw of each file (see state/filestats.py), so an
    # unchanged file is known by its stat and not read again.
    db["file_stats"].create(
        {
            "collection": str,
            "path": str,
            "size": int,
            "mtime_ns": int,
            "ino": int,
            "ctime_ns": int,
            "content_hash": str,
            "seen_ns": int,  # when the sync that recorded it began
        },
        pk=("collection", "path"),
        not_null={"size", "mtime_ns", "ino", "ctime_ns", "content_hash", "seen_ns"},
    )
    # `stats` and the monitoring counters look events up by kind and time
    # (retries, completed attempts), and jobs by their last change (`stats --since`,
    # `status --since`, `watch`): without these, scans of a million events.
    db["events"].create_index(["event", "at"])
    db["jobs"].create_index(["updated_at", "state"])
    # Throughput (completed since) and top failures (failed since) within one state.
    db["jobs"].create_index(["state", "completed_at"])
    db["jobs"].create_index(["state", "updated_at"])


def m013_lexical_vocabulary(db: Any) -> None:
    # How many rows of the FTS5 index hold each term (its `doc` column), so a
    # search can drop the words that weigh nothing in BM25 (see state/lexical.py).
    # A view over the index: it stores nothing and needs no upkeep.
    db.execute("CREATE VIRTUAL TABLE chunks_fts_vocab USING fts5vocab(chunks_fts, 'row')")


def m014_jobs_by_content(db: Any) -> None:
    # Duplicate detection looks jobs up by (collection, kind, content_hash IN ...).
    # With (collection, content_hash) and (collection, kind, source) to choose from,
    # SQLite took the latter, which matches every PDF job of the collection: each
    # upload to a server read them all (1.5 ms an upload at 3,000 jobs, growing).
    db["jobs"].create_index(["collection", "kind", "content_hash"])


MIGRATIONS: list[Migration] = [
    m001_jobs_and_events,
    m002_web_fields,
    m003_not_before,
    m004_sources,
    m005_chunk_reuse,
    m006_callbacks,
    m007_lexical_index,
    m008_workers_and_leases,
    m009_blobs,
    m010_tokens_and_owners,
    m011_shared_rate_limits,
    m012_file_stats_and_lookups,
    m013_lexical_vocabulary,
    m014_jobs_by_content,
]
