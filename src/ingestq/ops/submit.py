"""``add`` and ``scrape``: turn paths and URLs into queued jobs, fast.

This module is on the hot path of ``ingestq add`` and must not import anything
heavy. It validates every entry, copies the good files into the blob store,
records jobs and enqueues their ids; a bad entry is reported and skipped, never
fatal to the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ingestq.config import Settings
from ingestq.errors import UsageError
from ingestq.ops.files import check_pdf, expand
from ingestq.ops.inputs import SubmitOptions
from ingestq.queue import open_queue
from ingestq.readers.urls import check_url, normalize_url
from ingestq.state import jobs, lifecycle, open_state, versions
from ingestq.state.db import Database
from ingestq.state.queue_storage import bulk_sqlite_storage
from ingestq.store import open_blob_store
from ingestq.store.blobs import BlobStore


@dataclass
class Submitted:
    """One accepted entry: a new job, or the existing job it duplicates."""

    job: jobs.Job
    duplicate_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.job.id,
            "source": self.job.source,
            "state": self.job.state,
        }
        if self.job.unchanged:
            out["unchanged"] = True
        if self.duplicate_of:
            out["duplicate_of"] = self.duplicate_of
        return out


@dataclass
class AddResult:
    submitted: list[Submitted] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


#: An entry to record: its duplicate key (None: never a duplicate) and its job.
Entry = tuple[str | None, jobs.NewJob]
#: Finds the live jobs that already hold some of the keys.
Lookup = Callable[[Database, list[str]], dict[str, jobs.Job]]


def add_paths(
    settings: Settings,
    raw_paths: Sequence[str],
    options: SubmitOptions | None = None,
    *,
    by_path: bool = False,
) -> AddResult:
    """Validate, store and enqueue PDFs. Raises :class:`UsageError` if none is valid.

    ``by_path`` makes every path its own document even when its bytes exist
    under another name (a directory sync mirrors paths): a path is named as
    given, not resolved, and is a duplicate only of a waiting or running job
    for the same path and the same content.
    """
    options = options or SubmitOptions()
    job_options = options.job_options(settings)
    result = AddResult()
    files = _valid_files(settings, raw_paths, result.errors, resolve=not by_path)
    if not files:
        raise UsageError("nothing to add: " + ("; ".join(result.errors) or "no paths given"))
    # One handle for the whole call: on PostgreSQL the blobs go there too.
    db = open_state(settings)
    try:
        blobs = open_blob_store(settings, db)
        entries = _store_files(blobs, files, options, job_options, result.errors)
        if not entries:
            raise UsageError("nothing to add: " + "; ".join(result.errors))
        submit_entries(settings, result, entries, options, by_path=by_path, db=db)
    finally:
        db.close()
    return result


def submit_entries(
    settings: Settings,
    result: AddResult,
    entries: list[Entry],
    options: SubmitOptions,
    *,
    by_path: bool = False,
    db: Database | None = None,
) -> None:
    """Record stored PDFs as jobs, as ``add`` does: unchanged content completes at
    once, content that failed before is answered with its failed job, and live
    duplicates with the job that holds them. ``db``: the caller's open state
    database; without it, one is opened for the call."""
    handle = db or open_state(settings)
    try:
        failed: list[jobs.Job] = []
        if not options.force:
            entries, failed = _mark_unchanged(handle, options.collection, entries)
        if entries:
            known: Lookup | None
            if by_path:
                entries = [(None if s.unchanged else s.source, s) for _, s in entries]
                known = _live_with_same_content(options.collection, entries)
            else:
                known = None if options.force else _live_by_content(options.collection)
            record_jobs(settings, result, entries, known, handle)
    finally:
        if db is None:
            handle.close()
    result.submitted += [Submitted(job=job, duplicate_of=job.id) for job in failed]


def _live_by_content(collection: str) -> Lookup:
    """Jobs that already hold the same bytes: queued, running or completed."""

    def known(db: Database, digests: list[str]) -> dict[str, jobs.Job]:
        return jobs.find_live(db, collection, "pdf", "content_hash", digests, jobs.DEDUP_STATES)

    return known


def _live_with_same_content(collection: str, entries: list[Entry]) -> Lookup:
    """Jobs waiting or running for the same path with the same bytes (a second sync
    before the worker ran must not queue every file again)."""
    digests = {spec.source: spec.content_hash for _, spec in entries}

    def known(db: Database, paths: list[str]) -> dict[str, jobs.Job]:
        live = jobs.find_live(db, collection, "pdf", "source", paths, jobs.ACTIVE_STATES)
        return {path: job for path, job in live.items() if job.content_hash == digests[path]}

    return known


def _valid_files(
    settings: Settings, raw_paths: Sequence[str], errors: list[str], *, resolve: bool
) -> list[Path]:
    """The PDFs ``raw_paths`` name, each once; why the others cannot be added goes to ``errors``."""
    files: dict[Path, None] = {}  # ordered set: the same file named twice is one entry
    for raw in raw_paths:
        for path, error in expand(raw):
            if path is None:
                errors.append(error)
            elif problem := check_pdf(path, settings.max_file_bytes):
                errors.append(problem)
            else:
                files[path.resolve() if resolve else path.absolute()] = None
    return list(files)


def _store_files(
    blobs: BlobStore,
    files: list[Path],
    options: SubmitOptions,
    job_options: dict[str, Any],
    errors: list[str],
) -> list[Entry]:
    """Copy each file into the blob store; an entry per file, keyed by its content."""
    entries: list[Entry] = []
    for path in files:
        try:
            digest, size = blobs.put_file(path)
        except OSError as exc:  # a full disk, a file that vanished mid-copy
            errors.append(f"{path}: cannot be copied into the store ({exc.strerror})")
            continue
        spec = jobs.NewJob(
            kind="pdf",
            source=str(path),
            collection=options.collection,
            content_hash=digest,
            size_bytes=size,
            options=job_options,
            not_before=options.start_at,
            owner=options.owner,
        )
        entries.append((digest, spec))
    return entries


def _mark_unchanged(
    db: Database, collection: str, entries: list[Entry]
) -> tuple[list[Entry], list[jobs.Job]]:
    """Files whose document already holds this very content need no work at all.

    Decided here, at `add` time, by the SHA-256 alone: no worker, no model.
    Files whose last job failed on the same content are left out; their
    failed jobs are returned instead.
    """
    out: list[Entry] = []
    failed: list[jobs.Job] = []
    sources = [spec.source for _, spec in entries]
    versions_now = versions.current_many(db, collection, "pdf", sources)
    ever_failed = jobs.with_failures(db, collection, sources)
    for key, spec in entries:
        current = versions_now.get(spec.source)
        if current and current.content_hash == spec.content_hash:
            out.append((None, replace(spec, unchanged=True, not_before=None)))
        elif spec.source in ever_failed and (
            job := jobs.failed_before(db, collection, spec.source, spec.content_hash or "")
        ):
            failed.append(job)
        elif current:
            # A known document whose content changed is re-ingested as itself, even
            # if the new bytes exist under another name: its old chunks must go.
            out.append((None, spec))
        else:
            out.append((key, spec))
    return out, failed


def scrape_urls(
    settings: Settings, raw_urls: Sequence[str], options: SubmitOptions | None = None
) -> AddResult:
    """Validate and enqueue URLs, all in one transaction. :class:`UsageError` if none is valid.

    A URL already waiting or in progress in the collection is not queued twice;
    one that completed before is queued again (the page may have changed).
    """
    options = options or SubmitOptions()
    job_options = options.job_options(settings)
    result = AddResult()
    urls: dict[str, None] = {}
    for raw in raw_urls:
        if problem := check_url(raw):
            result.errors.append(problem)
        else:
            urls[normalize_url(raw)] = None
    if not urls:
        raise UsageError("nothing to scrape: " + ("; ".join(result.errors) or "no URLs given"))
    collection = options.collection
    entries: list[Entry] = [
        (
            url,
            jobs.NewJob(
                "url",
                url,
                collection,
                options=job_options,
                not_before=options.start_at,
                owner=options.owner,
            ),
        )
        for url in urls
    ]

    def known(db: Database, keys: list[str]) -> dict[str, jobs.Job]:
        return jobs.find_live(db, collection, "url", "source", keys, jobs.ACTIVE_STATES)

    record_jobs(settings, result, entries, None if options.force else known)
    return result


def _plan(
    entries: list[Entry], existing: dict[str, jobs.Job]
) -> tuple[list[tuple[int | None, jobs.Job | None]], list[jobs.NewJob]]:
    """For each entry, the index of its new job or the live job it duplicates; and the
    jobs to create."""
    to_create: list[jobs.NewJob] = []
    first_new: dict[str, int] = {}
    plan: list[tuple[int | None, jobs.Job | None]] = []
    for key, spec in entries:
        if key is not None and key in existing:
            plan.append((None, existing[key]))
        elif key is not None and key in first_new:
            plan.append((first_new[key], None))  # the same bytes twice in one call
        else:
            if key is not None:
                first_new[key] = len(to_create)
            plan.append((len(to_create), None))
            to_create.append(spec)
    return plan, to_create


def record_jobs(
    settings: Settings,
    result: AddResult,
    entries: list[Entry],
    known: Lookup | None,
    db: Database | None = None,
) -> None:
    """Create a job per entry, unless its key is already live: then report the duplicate.

    A key of None is never a duplicate (an unchanged document's record). ``db`` is
    the caller's open state database; without it, one is opened for the call.
    """
    handle = db or open_state(settings)
    try:
        # The lookup and the inserts in one transaction: two `add`s of the same
        # file at once must not both find nothing and both insert.
        with handle.transaction():
            existing = known(handle, [k for k, _ in entries if k is not None]) if known else {}
            plan, to_create = _plan(entries, existing)
            created = lifecycle.create_jobs(handle, to_create) if to_create else []
    finally:
        if db is None:
            handle.close()
    # Enqueue after the jobs are committed: a crash in between leaves a queued job
    # that recovery re-enqueues, never a message without a job.
    waiting = [j for j in created if j.state == jobs.QUEUED]
    if waiting:
        queue = open_queue(settings, sqlite_storage=bulk_sqlite_storage)
        queue.enqueue((j.id for j in waiting), not_before=waiting[0].not_before)
    for (index, live), (_, spec) in zip(plan, entries, strict=True):
        job = created[index] if index is not None else live
        assert job is not None
        is_dup = live is not None or job.source != spec.source
        result.submitted.append(Submitted(job=job, duplicate_of=job.id if is_dup else None))
