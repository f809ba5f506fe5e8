"""``add DIR --sync``: mirror a directory into its collection.

New and changed PDFs are ingested, unchanged ones skipped, and the chunks of
PDFs deleted from the directory since the last sync are removed. Removal goes
through the worker (a ``remove`` job), since only the worker may write to the
Chroma store. A directory that is missing or empty never wipes a collection
unless the user says ``--allow-empty``: an unmounted disk is not a deletion.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ingestq.config import Settings
from ingestq.errors import UsageError
from ingestq.ops.files import check_pdf, pdf_names_under, unnamable
from ingestq.ops.inputs import SubmitOptions
from ingestq.ops.submit import AddResult, Entry, Submitted, add_paths, record_jobs
from ingestq.state import filestats, jobs, open_state, versions


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Failed on this very content before: skipped (``retry`` or ``add --force`` tries again).
    failed_before: list[str] = field(default_factory=list)
    dry_run: bool = False
    #: Every file was read (``--checksum``), not only those whose stat changed.
    checksum: bool = False
    #: How many files were read to hash them (the others matched their stat record).
    hashed: int = 0
    #: The stat of each new file, recorded once its copy gives its digest.
    stats: dict[str, filestats.FileStat] = field(default_factory=dict)
    submitted: AddResult = field(default_factory=AddResult)
    #: Files left out, one line each: a name that is not UTF-8, a file that vanished.
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "failed_before": len(self.failed_before),
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def sync_directory(
    settings: Settings,
    directory: str,
    options: SubmitOptions | None = None,
    *,
    dry_run: bool = False,
    allow_empty: bool = False,
    checksum: bool = False,
) -> SyncResult:
    """Plan, and unless ``dry_run`` carry out, the mirror of ``directory``.

    A sync decides itself what to queue, so ``options.force`` does not apply.
    """
    options = replace(options or SubmitOptions(), force=False)
    collection = options.collection
    root = Path(directory).expanduser().resolve()
    if not root.is_dir():
        raise UsageError(f"{directory}: no such directory; nothing was removed")
    result = SyncResult(dry_run=dry_run, checksum=checksum)
    # Paths as they are in the directory, links not resolved: a link to a file
    # elsewhere is a document of this directory, removed when the link goes.
    files = []
    for name in pdf_names_under(root):
        if problem := unnamable(name):
            result.skipped.append(problem)
        else:
            files.append(name)
    present = _plan(settings, collection, root, files, result)
    result.removed = sorted(set(result.removed) - present)
    if result.removed and not files and not allow_empty:
        raise UsageError(
            f"{directory} has no PDFs; refusing to remove the chunks of "
            f"{len(result.removed)} document(s) without {{allow_empty}}",
            params=("allow_empty",),
        )
    if dry_run:
        return result
    # Only new and changed files are read again (checked and copied into the store).
    todo = [*result.added, *result.changed]
    valid = [p for p in todo if not check_pdf(Path(p), settings.max_file_bytes)]
    if valid:
        result.submitted = add_paths(settings, valid, options, by_path=True)
        _record_new(settings, collection, result)
    if result.removed:
        _queue_removals(settings, collection, result)
    return result


def _plan(
    settings: Settings, collection: str, root: Path, files: list[str], result: SyncResult
) -> set[str]:
    """Sort ``files`` into the result's buckets; list every known document under ``root``.

    Returns the files that are there: one that vanishes while it is read is skipped.
    """
    started_ns = time.time_ns()
    present: set[str] = set()
    db = open_state(settings)
    try:
        known = versions.files_under(db, collection, str(root))
        seen = filestats.under(db, collection, str(root))
        waiting = filestats.waiting_under(db, collection, str(root))
        failed = filestats.failed_under(db, collection, str(root))
        fresh: list[tuple[str, filestats.FileStat]] = []
        for key in files:
            # A path with no history at all is new whatever its bytes: they are read
            # once, when copied into the store, and recorded then (see _record_new).
            new = key not in known and key not in waiting and key not in failed
            try:
                digest, record = _digest(key, seen.get(key), result.checksum, started_ns, new)
            except OSError as exc:
                result.skipped.append(f"{key}: skipped, it cannot be read ({exc.strerror})")
                continue
            present.add(key)
            if record is not None:
                result.hashed += 1
                if new:
                    result.stats[key] = record
                else:
                    fresh.append((key, record))
            if new:
                result.added.append(key)
            elif digest in (known.get(key), waiting.get(key)):
                result.unchanged.append(key)
            elif key in failed and jobs.failed_before(db, collection, key, digest):
                result.failed_before.append(key)
            elif key in known:
                result.changed.append(key)
            else:
                result.added.append(key)
        if not result.dry_run:
            # Kept even if queueing fails below: a record says only what the bytes hash to.
            filestats.save(db, collection, fresh)
            filestats.forget(db, collection, set(seen) - present)
    finally:
        db.close()
    result.removed = list(known)  # narrowed to the missing ones by the caller
    return present


def _digest(
    path: str, record: filestats.FileStat | None, checksum: bool, started_ns: int, new: bool
) -> tuple[str, filestats.FileStat | None]:
    """The file's SHA-256 ("" for a ``new`` file, left to the copy), and the record to
    write if it has to be read.

    The record's hash is trusted when size, both times and the inode are as recorded
    and the file was last touched well before the sync that recorded it began. A
    file changed in the second before that sync, or after it began, could have
    changed again after its stat was taken without moving a coarse clock: it is
    read again (git's "racy" files), and its record renewed.
    """
    info = os.stat(path)
    stat = (info.st_size, info.st_mtime_ns, _signed(info.st_ino), info.st_ctime_ns)
    if (
        record is not None
        and not checksum
        and not new
        and stat == (record.size, record.mtime_ns, record.ino, record.ctime_ns)
        and max(info.st_mtime_ns, info.st_ctime_ns) < record.seen_ns - _RACY_NS
    ):
        return record.content_hash, None
    # The stat is taken before the bytes are read: a write after it changes the
    # times (or falls in the racy second), so the next sync reads the file again.
    digest = "" if new else _sha256(Path(path))
    return digest, filestats.FileStat(*stat, content_hash=digest, seen_ns=started_ns)


def _record_new(settings: Settings, collection: str, result: SyncResult) -> None:
    """Record the stat of each new file with the digest its copy into the store found."""
    digests = {s.job.source: s.job.content_hash for s in result.submitted.submitted}
    records = [
        (key, replace(stat, content_hash=digest))
        for key, stat in result.stats.items()
        if (digest := digests.get(key))
    ]
    if records:
        db = open_state(settings)
        try:
            filestats.save(db, collection, records)
        finally:
            db.close()


#: How close to a sync's start a change must be to be checked again at the next
#: one: a second, as file systems with coarse clocks may stamp a write up to
#: about a tick before the sync's own clock read.
_RACY_NS = 1_000_000_000


def _signed(ino: int) -> int:
    """The inode as a signed 64-bit integer, as both databases store it."""
    return ino - (1 << 64) if ino >= 1 << 63 else ino


def _queue_removals(settings: Settings, collection: str, result: SyncResult) -> None:
    specs: list[Entry] = [
        (None, jobs.NewJob(kind="remove", source=key, collection=collection))
        for key in result.removed
    ]
    removals = AddResult()
    record_jobs(settings, removals, specs, None)
    result.submitted.submitted.extend(Submitted(job=s.job) for s in removals.submitted)
