"""``prune``: reclaim the blobs and history of old finished jobs.

A nightly run piles up one job per source per night. Their rows stay (they
are small, and ``status`` may still be asked about them), but their events and
their stored copies go once they are older than the asked age. Two things are
never deleted: a blob a live job still needs (queued, processing, retrying, or
a younger finished job with the same content), and the blob behind a source's
current chunks, which a re-ingest, a ``retry`` or an audit may need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingestq.config import Settings
from ingestq.state import open_state, retention
from ingestq.store import open_blob_store
from ingestq.store.blobs import BlobStore
from ingestq.times import ago

#: An unnamed blob younger than this may belong to an ``add`` still committing.
ORPHAN_GRACE_S = 3600.0


@dataclass
class PruneResult:
    """What a prune removed (or, in a dry run, would remove)."""

    jobs: int = 0  # old finished jobs that had history to prune
    events: int = 0
    blobs: int = 0
    bytes: int = 0
    kept_blobs: int = 0  # old jobs' blobs kept for a current version or a live job
    dry_run: bool = False
    removed: list[str] = field(default_factory=list)  # blob digests


def prune(settings: Settings, older_than_s: float, *, dry_run: bool = False) -> PruneResult:
    """Delete events and blobs of finished jobs older than ``older_than_s`` seconds."""
    db = open_state(settings)
    try:
        history = retention.prune_history(db, ago(older_than_s), dry_run=dry_run)
        known = retention.known_digests(db)
        result = PruneResult(jobs=history.jobs, events=history.events, dry_run=dry_run)
        digests = {d for d in history.old.values() if d}
        result.kept_blobs = len(digests & history.needed)
        grace_s = max(older_than_s, ORPHAN_GRACE_S)
        blobs = open_blob_store(settings, db)
        _prune_blobs(blobs, result, digests - history.needed, known, grace_s)
    finally:
        db.close()
    return result


def _prune_blobs(
    blobs: BlobStore, result: PruneResult, doomed: set[str], known: set[str], grace_s: float
) -> None:
    """Delete the ``doomed`` blobs, and old ones no job names at all."""
    # Orphans: left by an ``add`` that died before its commit.
    orphans = set(blobs.older_than(grace_s)) - known
    for digest in sorted(doomed) + sorted(orphans):
        size = blobs.size(digest)
        if size is None or (not result.dry_run and not blobs.delete(digest)):
            continue  # pruned before, or never stored (a job refused at add)
        result.blobs += 1
        result.bytes += size
        result.removed.append(digest)
    # And the bytes of copies that never became blobs (a put killed halfway).
    result.bytes += blobs.drop_incomplete(grace_s, dry_run=result.dry_run)
