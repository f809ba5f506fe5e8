"""``add DIR --sync``: mirror a directory into its collection.

New and changed PDFs are ingested, unchanged ones skipped, and the chunks of
PDFs deleted from the directory since the last sync are removed. Removal goes
through the worker (a ``remove`` job), since only the worker may write to the
Chroma store. A directory that is missing or empty never wipes a collection
unless the user says ``--allow-empty``: an unmounted disk is not a deletion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ingestq.config import Settings
from ingestq.errors import UsageError
from ingestq.ops.files import check_pdf, pdfs_under, unnamable
from ingestq.ops.inputs import SubmitOptions
from ingestq.ops.submit import AddResult, Entry, Submitted, add_paths, record_jobs
from ingestq.state import jobs, open_state, versions


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
) -> SyncResult:
    """Plan, and unless ``dry_run`` carry out, the mirror of ``directory``.

    A sync decides itself what to queue, so ``options.force`` does not apply.
    """
    options = replace(options or SubmitOptions(), force=False)
    collection = options.collection
    root = Path(directory).expanduser().resolve()
    if not root.is_dir():
        raise UsageError(f"{directory}: no such directory; nothing was removed")
    result = SyncResult(dry_run=dry_run)
    # Paths as they are in the directory, links not resolved: a link to a file
    # elsewhere is a document of this directory, removed when the link goes.
    files = []
    for path in pdfs_under(root):
        if problem := unnamable(path):
            result.skipped.append(problem)
        else:
            files.append(path)
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
    valid = [p for p in present if not check_pdf(Path(p), settings.max_file_bytes)]
    if valid:
        result.submitted = add_paths(settings, valid, options, by_path=True)
    if result.removed:
        _queue_removals(settings, collection, result)
    return result


def _plan(
    settings: Settings, collection: str, root: Path, files: list[Path], result: SyncResult
) -> set[str]:
    """Sort ``files`` into the result's buckets; list every known document under ``root``.

    Returns the files that are there: one that vanishes while it is read is skipped.
    """
    present: set[str] = set()
    db = open_state(settings)
    try:
        known = versions.files_under(db, collection, str(root))
        for path in files:
            try:
                digest = _sha256(path)
            except OSError as exc:
                result.skipped.append(f"{path}: skipped, it cannot be read ({exc.strerror})")
                continue
            present.add(str(path))
            if known.get(str(path)) == digest:
                result.unchanged.append(str(path))
            elif jobs.failed_before(db, collection, str(path), digest):
                result.failed_before.append(str(path))
            elif str(path) in known:
                result.changed.append(str(path))
            else:
                result.added.append(str(path))
    finally:
        db.close()
    result.removed = list(known)  # narrowed to the missing ones by the caller
    return present


def _queue_removals(settings: Settings, collection: str, result: SyncResult) -> None:
    specs: list[Entry] = [
        (None, jobs.NewJob(kind="remove", source=key, collection=collection))
        for key in result.removed
    ]
    removals = AddResult()
    record_jobs(settings, removals, specs, None)
    result.submitted.submitted.extend(Submitted(job=s.job) for s in removals.submitted)
