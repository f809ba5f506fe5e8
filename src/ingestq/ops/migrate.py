"""``migrate-home``: move an embedded home onto servers, without embedding anything again.

The source is the home (``INGESTQ_HOME``) as it is embedded: ``state.db``, the
SQLite queue, Chroma under ``chroma/`` and ``blobs/``. The target is the
servers the target settings name. Each part moves if the target puts it on a
server: the state to PostgreSQL, the vectors to a Chroma server, the queue
to Redis; the blobs go wherever the target's blob store keeps them.

What is copied, in this order, so that each step finds what it needs:

1. blobs, through the :class:`~ingestq.store.blobs.BlobStore` protocol;
2. vectors: every record of every collection with its id, embedding, text
   and metadata, into a collection that records the same model (the model
   check), in batches; the embedder is never loaded;
3. the state, table by table (jobs, events, callbacks, sources, chunks with
   their lexical terms), a transaction per batch;
4. the queue: every job still waiting is enqueued on the target queue unless
   it is there already (recovery would do it too, at a worker's next pass).

Running it again is safe: what the target holds is skipped, what it lacks is
added. A target that holds jobs this home never had belongs to another
deployment: that is refused, as is a worker running on the home (the home's
worker lock is held for the whole copy) or on the target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingestq.config import Settings
from ingestq.errors import NotFoundError, StateError, StoreError, UsageError
from ingestq.masking import mask
from ingestq.state import open_state, recovery, transfer, workers
from ingestq.state.db import Database
from ingestq.state.transfer import Copied
from ingestq.store.vectors import VectorStore

#: Vectors written to the target per call.
VECTOR_BATCH = 1000

Progress = Callable[[str], None]


@dataclass
class MigrateReport:
    """What was copied: per part, how many the source holds and how many were added."""

    source: str
    target: dict[str, str]
    tables: dict[str, Copied] = field(default_factory=dict)
    blobs: Copied = field(default_factory=Copied)
    blobs_missing: int = 0  # named by a job but not in the source's blob store
    vectors: dict[str, Copied] = field(default_factory=dict)  # per collection
    enqueued: int = 0

    def to_dict(self) -> dict[str, Any]:
        def part(c: Copied) -> dict[str, int]:
            return {"rows": c.rows, "copied": c.added, "already_there": c.present}

        return {
            "source": self.source,
            "target": self.target,
            "state": {name: part(c) for name, c in self.tables.items()},
            "blobs": part(self.blobs) | {"missing": self.blobs_missing},
            "vectors": {name: part(c) for name, c in self.vectors.items()},
            "enqueued": self.enqueued,
        }


def embedded(settings: Settings) -> Settings:
    """``settings`` with every part under the home: the source of a migration."""
    return dataclasses.replace(settings, database_url=None, queue_url=None, chroma_url=None)


def migrate_home(
    source: Settings, target: Settings, progress: Progress | None = None
) -> MigrateReport:
    """Copy the embedded home of ``source`` onto the servers ``target`` names."""
    from ingestq.worker.lock import worker_lock

    say = progress or (lambda _: None)
    if not (target.database_url or target.chroma_url or target.queue_url):
        raise UsageError("nothing to migrate to: name a PostgreSQL, Chroma or Redis server")
    if not source.state_db.exists():
        raise NotFoundError(f"{source.home} holds no state.db: there is nothing to migrate")
    report = MigrateReport(str(source.home), _where(target))
    with worker_lock(source):  # WorkerRunningError if a worker runs on the home
        src = open_state(source)
        dst = open_state(target) if target.database_url else None
        try:
            if dst is not None:
                _check_target(src, dst, target)
            _copy_blobs(src, dst, source, target, report, say)
            if target.chroma_url:
                _copy_vectors(source, target, report, say)
            if dst is not None:
                for table in transfer.TABLES:
                    say(f"copying {table}")
                    report.tables[table] = transfer.copy_table(src, dst, table)
                transfer.bump_identities(dst)
            report.enqueued = _enqueue_waiting(dst or src, target, say)
        finally:
            src.close()
            if dst is not None:
                dst.close()
    return report


def _where(target: Settings) -> dict[str, str]:
    return {
        "database": mask(target.database_url or str(target.state_db)),
        "queue": mask(target.queue_url or str(target.queue_db)),
        "vectors": mask(target.chroma_url or str(target.chroma_dir)),
    }


def _check_target(src: Database, dst: Database, target: Settings) -> None:
    """Refuse a target in use: another deployment's jobs, or a worker running there."""
    foreign = transfer.foreign_jobs(src, dst)
    if foreign:
        raise StateError(
            f"the state database at {mask(target.database_url or '')} holds {foreign} job(s)"
            " this home never had: migrate-home copies into an empty database (or one an"
            " earlier run of it filled)"
        )
    running = workers.alive(dst, target.lease_s)
    if running:
        raise StateError(
            f"worker {running[0].owner} is running on the target: stop every worker first"
        )


def _copy_blobs(
    src: Database,
    dst: Database | None,
    source: Settings,
    target: Settings,
    report: MigrateReport,
    say: Progress,
) -> None:
    from ingestq.store import open_blob_store

    digests = transfer.blob_digests(src)
    say(f"copying {len(digests)} blob(s)")
    # On a PostgreSQL target the blobs go into its database: the handle already open.
    here, there = open_blob_store(source, src), open_blob_store(target, dst)
    try:
        for digest in digests:
            report.blobs.rows += 1
            if there.exists(digest):
                continue
            if not here.exists(digest):  # pruned, or lost: the job's record says so already
                report.blobs.rows -= 1
                report.blobs_missing += 1
                continue
            with here.open(digest) as stream:
                copied, _ = there.put_stream(stream)
            if copied != digest:
                raise StoreError(f"blob {digest} changed while it was copied (now {copied})")
            report.blobs.added += 1
    finally:
        here.close()
        there.close()


def _copy_vectors(source: Settings, target: Settings, report: MigrateReport, say: Progress) -> None:
    from ingestq.store import open_vector_store

    try:
        here = open_vector_store(source, create=False)
    except NotFoundError:  # no vector was ever stored
        return
    there = open_vector_store(target)
    for meta in here.collections():
        if meta.model is None or meta.dimension is None:
            raise StoreError(f"collection {meta.name!r} does not record its model: not copied")
        say(f"copying {meta.chunks} vector(s) of collection {meta.name!r}")
        there.ensure_collection(meta.name, meta.model, int(meta.dimension))
        report.vectors[meta.name] = _copy_collection(here, there, meta.name)


def _copy_collection(here: VectorStore, there: VectorStore, name: str) -> Copied:
    """Every record of collection ``name`` the target lacks, with its stored vector."""
    present = {r["id"] for r in there.records(name)} if there.count(name) else set()
    done = Copied()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch:
            there.add(
                name,
                [r["id"] for r in batch],
                [r["embedding"] for r in batch],
                [r["text"] or "" for r in batch],
                [r["metadata"] for r in batch],
            )
            done.added += len(batch)
            batch.clear()

    for record in here.records(name, vectors=True):
        done.rows += 1
        if record["id"] in present:
            continue
        batch.append(record)
        if len(batch) >= VECTOR_BATCH:
            flush()
    flush()
    return done


def _enqueue_waiting(db: Database, target: Settings, say: Progress) -> int:
    """Put every waiting job on the target queue, unless it is there already."""
    from ingestq.queue import open_queue

    queue = open_queue(target)
    pending = queue.pending_job_ids()
    missing = [(job_id, due) for job_id, due in recovery.waiting(db) if job_id not in pending]
    if missing:
        say(f"enqueueing {len(missing)} waiting job(s)")
    for job_id, due in missing:
        queue.enqueue([job_id], not_before=due)
    return len(missing)
