"""``add DIR --sync``: mirror a directory into its collection.

New and changed PDFs are ingested, unchanged ones skipped, and the chunks of
PDFs deleted from the directory since the last sync are removed. Removal goes
through the worker (a ``remove`` job), since only the worker may write to the
Chroma store. A directory that is missing or empty never wipes a collection
unless the user says ``--allow-empty``: an unmounted disk is not a deletion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ingestq import jobs
from ingestq.config import Settings
from ingestq.db import connect
from ingestq.errors import UsageError
from ingestq.jobs import failed_before
from ingestq.submit import AddResult, ChunkOptions, Submitted, add_paths, check_pdf, record_jobs


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Failed on this very content before: skipped (``retry`` or ``add --force`` tries again).
    failed_before: list[str] = field(default_factory=list)
    dry_run: bool = False
    submitted: AddResult = field(default_factory=AddResult)

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
    *,
    collection: str,
    dry_run: bool = False,
    allow_empty: bool = False,
    chunking: ChunkOptions | None = None,
    callback: str | None = None,
) -> SyncResult:
    """Plan, and unless ``dry_run`` carry out, the mirror of ``directory``."""
    root = Path(directory).expanduser().resolve()
    if not root.is_dir():
        raise UsageError(f"{directory}: no such directory; nothing was removed")
    files = sorted(
        p.resolve() for p in root.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file()
    )
    result = SyncResult(dry_run=dry_run)
    _plan(settings, collection, root, files, result)
    present = {str(p) for p in files}
    result.removed = sorted(set(result.removed) - present)
    if result.removed and not files and not allow_empty:
        raise UsageError(
            f"{directory} has no PDFs; refusing to remove the chunks of "
            f"{len(result.removed)} document(s) without --allow-empty"
        )
    if dry_run:
        return result
    valid = [p for p in present if not check_pdf(Path(p), settings.max_file_bytes)]
    if valid:
        result.submitted = add_paths(
            settings,
            valid,
            collection=collection,
            chunking=chunking,
            by_path=True,
            callback=callback,
        )
    if result.removed:
        _queue_removals(settings, collection, result)
    return result


def _plan(
    settings: Settings, collection: str, root: Path, files: list[Path], result: SyncResult
) -> None:
    """Sort ``files`` into the result's buckets; list every known source under ``root``."""
    conn = connect(settings.state_db)
    try:
        known = {
            row[0]: row[1]
            for row in conn.execute(
                "SELECT key, content_hash FROM sources WHERE collection = ? AND kind = 'pdf'"
                " AND key LIKE ? ESCAPE '\\'",
                (collection, _like_prefix(root)),
            )
        }
        for path in files:
            digest = _sha256(path)
            if known.get(str(path)) == digest:
                result.unchanged.append(str(path))
            elif failed_before(conn, collection, str(path), digest):
                result.failed_before.append(str(path))
            elif str(path) in known:
                result.changed.append(str(path))
            else:
                result.added.append(str(path))
    finally:
        conn.close()
    result.removed = list(known)  # narrowed to the missing ones by the caller


def _queue_removals(settings: Settings, collection: str, result: SyncResult) -> None:
    specs: list[tuple[str | None, jobs.NewJob]] = [
        (None, jobs.NewJob(kind="remove", source=key, collection=collection))
        for key in result.removed
    ]
    removals = AddResult()
    record_jobs(settings, removals, specs, None)
    result.submitted.submitted.extend(Submitted(job=s.job) for s in removals.submitted)


def _like_prefix(root: Path) -> str:
    escaped = str(root).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.rstrip("/") + "/%"
