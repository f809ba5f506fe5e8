"""``add``: turn paths into queued jobs, fast.

This module is on the hot path of ``ingestq add`` and must not import anything
heavy. It validates every path, copies the good ones into the blob store,
records jobs and enqueues their ids; a bad path is reported and skipped, never
fatal to the others.
"""

from __future__ import annotations

import glob
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestq import jobs
from ingestq.blobs import store_file
from ingestq.config import DEFAULT_COLLECTION, Settings
from ingestq.db import connect
from ingestq.errors import UsageError
from ingestq.queue import JobQueue
from ingestq.urls import check_url, normalize_url

PDF_MAGIC = b"%PDF-"
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class ChunkOptions:
    """Per-job chunking. ``None`` means: fit the embedding model."""

    tokens: int | None = None
    overlap: int | None = None

    def as_dict(self) -> dict[str, int]:
        return {
            k: v
            for k, v in (("chunk_tokens", self.tokens), ("chunk_overlap", self.overlap))
            if v is not None
        }


def not_before(delay: str | None = None, at: str | None = None) -> str | None:
    """When a job may first run: ``delay`` like "90s", "10m", "2h", "1d", or ``at`` ISO 8601.

    A time without a zone is taken as UTC. None means now.
    """
    from datetime import UTC, datetime, timedelta

    from ingestq.db import isoformat
    from ingestq.times import parse_duration, parse_time

    if delay and at:
        raise UsageError("give --delay or --at, not both")
    if delay:
        return isoformat(datetime.now(UTC) + timedelta(seconds=parse_duration(delay, "--delay")))
    if at:
        return isoformat(parse_time(at, "--at"))
    return None


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


def validate_collection(name: str) -> str:
    # Chroma's own rule, checked here so the mistake surfaces at `add`, not in the worker.
    ok = (
        3 <= len(name) <= 512
        and name[0].isalnum()
        and name[-1].isalnum()
        and all(c.isalnum() or c in "._-" for c in name)
        and ".." not in name
    )
    if not ok:
        raise UsageError(
            f"invalid collection name {name!r}: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def validate_chunking(options: ChunkOptions) -> None:
    if options.tokens is not None and options.tokens < 16:
        raise UsageError("--chunk-tokens must be at least 16")
    if options.overlap is not None and options.overlap < 0:
        raise UsageError("--chunk-overlap cannot be negative")
    if (
        options.tokens is not None
        and options.overlap is not None
        and options.overlap >= options.tokens
    ):
        raise UsageError("--chunk-overlap must be smaller than --chunk-tokens")


def _checked_options(collection: str, chunking: ChunkOptions | None) -> ChunkOptions:
    """Validate what every submission shares; the chunking options to use."""
    validate_collection(collection)
    chunking = chunking or ChunkOptions()
    validate_chunking(chunking)
    return chunking


def callback_option(settings: Settings, callback: str | None) -> dict[str, str]:
    """The job option for ``--callback`` (default ``INGESTQ_CALLBACK_URL``), checked."""
    url = callback or settings.callback_url
    if not url:
        return {}
    if problem := check_url(url):
        raise UsageError(f"--callback {problem.replace(' be scraped', ' receive callbacks')}")
    return {"callback": url}


def expand(raw: str) -> Iterator[tuple[Path | None, str]]:
    """Yield ``(path, "")`` per candidate file of ``raw``, or ``(None, error)``."""
    path = Path(raw).expanduser()
    if not path.exists() and _GLOB_CHARS & set(raw):
        matches = sorted(glob.glob(os.path.expanduser(raw), recursive=True))
        if not matches:
            yield None, f"{raw}: no file matches this pattern"
        for match in matches:
            yield from expand(match) if Path(match).is_dir() else [(Path(match), "")]
        return
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
        if not found:
            yield None, f"{raw}: no PDF files in this directory"
        yield from ((p, "") for p in found)
        return
    yield path, ""


def check_pdf(path: Path, max_bytes: int) -> str:
    """Why ``path`` cannot be added, or "" if it can."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(len(PDF_MAGIC))
    except FileNotFoundError:
        return f"{path}: no such file"
    except IsADirectoryError:
        return f"{path}: is a directory"
    except PermissionError:
        return f"{path}: permission denied"
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    if head != PDF_MAGIC:
        return f"{path}: not a PDF (it does not start with %PDF-)"
    if size > max_bytes:
        return (
            f"{path}: {size / 1048576:.1f} MB is over the {max_bytes / 1048576:g} MB limit"
            " (INGESTQ_MAX_FILE_MB)"
        )
    return ""


def add_paths(
    settings: Settings,
    raw_paths: Sequence[str],
    *,
    collection: str = DEFAULT_COLLECTION,
    force: bool = False,
    chunking: ChunkOptions | None = None,
    start_at: str | None = None,
    by_path: bool = False,
    callback: str | None = None,
) -> AddResult:
    """Validate, store and enqueue PDFs. Raises :class:`UsageError` if none is valid.

    ``start_at`` (see :func:`not_before`) holds the jobs until then. ``by_path``
    makes every path its own document even when its bytes exist under another
    name (a directory sync mirrors paths).
    """
    chunking = _checked_options(collection, chunking)
    options = chunking.as_dict() | callback_option(settings, callback)
    result = AddResult()
    files = _valid_files(settings, raw_paths, result.errors)
    if not files:
        raise UsageError("nothing to add: " + ("; ".join(result.errors) or "no paths given"))
    entries: list[tuple[str | None, jobs.NewJob]] = []
    for path in files:
        try:
            digest, size = store_file(settings.blobs_dir, path)
        except OSError as exc:  # a full disk, a file that vanished mid-copy
            result.errors.append(f"{path}: cannot be copied into the store ({exc.strerror})")
            continue
        spec = jobs.NewJob(
            kind="pdf",
            source=str(path),
            collection=collection,
            content_hash=digest,
            size_bytes=size,
            options=options,
            not_before=start_at,
        )
        entries.append((digest, spec))

    def known(conn: sqlite3.Connection, digests: list[str]) -> dict[str, jobs.Job]:
        return jobs.find_live(conn, collection, "pdf", "content_hash", digests, jobs.DEDUP_STATES)

    if not entries:
        raise UsageError("nothing to add: " + "; ".join(result.errors))
    failed: list[jobs.Job] = []
    if not force:
        entries, failed = _mark_unchanged(settings, collection, entries)
    if entries:
        record_jobs(settings, result, entries, None if force or by_path else known)
    result.submitted += [Submitted(job=job, duplicate_of=job.id) for job in failed]
    return result


def _valid_files(settings: Settings, raw_paths: Sequence[str], errors: list[str]) -> list[Path]:
    """The PDFs ``raw_paths`` name, each once; why the others cannot be added goes to ``errors``."""
    files: dict[Path, None] = {}  # ordered set: the same file named twice is one entry
    for raw in raw_paths:
        for path, error in expand(raw):
            if path is None:
                errors.append(error)
            elif problem := check_pdf(path, settings.max_file_bytes):
                errors.append(problem)
            else:
                files[path.resolve()] = None
    return list(files)


def _mark_unchanged(
    settings: Settings, collection: str, entries: list[tuple[str | None, jobs.NewJob]]
) -> tuple[list[tuple[str | None, jobs.NewJob]], list[jobs.Job]]:
    """Files whose source already holds this very content need no work at all.

    Decided here, at `add` time, by the SHA-256 alone: no worker, no model.
    Files whose last job failed on the same content are left out; their
    failed jobs are returned instead.
    """
    from dataclasses import replace

    from ingestq import sources

    conn = connect(settings.state_db)
    try:
        out: list[tuple[str | None, jobs.NewJob]] = []
        failed: list[jobs.Job] = []
        for key, spec in entries:
            current = sources.get(conn, collection, "pdf", spec.source)
            if current and current.content_hash == spec.content_hash:
                out.append((None, replace(spec, unchanged=True, not_before=None)))
            elif job := jobs.failed_before(conn, collection, spec.source, spec.content_hash or ""):
                failed.append(job)
            elif current:
                # A known source whose content changed is re-ingested as itself, even
                # if the new bytes exist under another name: its old chunks must go.
                out.append((None, spec))
            else:
                out.append((key, spec))
        return out, failed
    finally:
        conn.close()


def read_list(path: str) -> list[str]:
    """Entries from a list file, or from standard input when ``path`` is ``-``."""
    import sys

    if path == "-":
        return read_entries(sys.stdin.read())
    try:
        return read_entries(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read as a text list ({exc})") from None


def read_entries(text: str) -> list[str]:
    """The entries of a list file: one a line; blank lines and ``#`` comments skipped."""
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def scrape_urls(
    settings: Settings,
    raw_urls: Sequence[str],
    *,
    collection: str = DEFAULT_COLLECTION,
    force: bool = False,
    chunking: ChunkOptions | None = None,
    start_at: str | None = None,
    callback: str | None = None,
) -> AddResult:
    """Validate and enqueue URLs, all in one transaction. :class:`UsageError` if none is valid.

    A URL already waiting or in progress in the collection is not queued twice;
    one that completed before is queued again (the page may have changed).
    """
    chunking = _checked_options(collection, chunking)
    options = chunking.as_dict() | callback_option(settings, callback)
    result = AddResult()
    urls: dict[str, None] = {}
    for raw in raw_urls:
        if problem := check_url(raw):
            result.errors.append(problem)
        else:
            urls[normalize_url(raw)] = None
    if not urls:
        raise UsageError("nothing to scrape: " + ("; ".join(result.errors) or "no URLs given"))
    entries: list[tuple[str | None, jobs.NewJob]] = [
        (
            url,
            jobs.NewJob(
                kind="url",
                source=url,
                collection=collection,
                options=options,
                not_before=start_at,
            ),
        )
        for url in urls
    ]

    def known(conn: sqlite3.Connection, keys: list[str]) -> dict[str, jobs.Job]:
        return jobs.find_live(conn, collection, "url", "source", keys, jobs.ACTIVE_STATES)

    record_jobs(settings, result, entries, None if force else known)
    return result


Lookup = Callable[[sqlite3.Connection, list[str]], dict[str, jobs.Job]]


def record_jobs(
    settings: Settings,
    result: AddResult,
    entries: list[tuple[str | None, jobs.NewJob]],
    known: Lookup | None,
) -> None:
    """Create a job per entry, unless its key is already live: then report the duplicate.

    A key of None is never a duplicate (an unchanged source's record).
    """
    conn = connect(settings.state_db)
    try:
        existing = known(conn, [k for k, _ in entries if k is not None]) if known else {}
        to_create: list[jobs.NewJob] = []
        first_new: dict[str, int] = {}
        plan: list[tuple[int | None, jobs.Job | None]] = []  # (new job's index, or live job)
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
        created = jobs.create_jobs(conn, to_create) if to_create else []
    finally:
        conn.close()
    # Enqueue after the jobs are committed: a crash in between leaves a queued job
    # that recovery re-enqueues, never a message without a job.
    if os.environ.get("INGESTQ_TEST_FAULT") == "after-commit":
        os._exit(3)  # test-only: simulate that crash
    waiting = [j for j in created if j.state == jobs.QUEUED]
    if waiting:
        JobQueue(settings).enqueue((j.id for j in waiting), not_before=waiting[0].not_before)
    for (index, live), (_, spec) in zip(plan, entries, strict=True):
        job = created[index] if index is not None else live
        assert job is not None
        is_dup = live is not None or job.source != spec.source
        result.submitted.append(Submitted(job=job, duplicate_of=job.id if is_dup else None))
