"""``add``: turn paths into queued jobs, fast.

This module is on the hot path of ``ingestq add`` and must not import anything
heavy. It validates every path, copies the good ones into the blob store,
records jobs and enqueues their ids; a bad path is reported and skipped, never
fatal to the others.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestq import jobs
from ingestq.blobs import store_file
from ingestq.config import DEFAULT_COLLECTION, Settings
from ingestq.db import connect
from ingestq.errors import UsageError
from ingestq.queue import JobQueue

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
) -> AddResult:
    """Validate, store and enqueue PDFs. Raises :class:`UsageError` if none is valid."""
    validate_collection(collection)
    chunking = chunking or ChunkOptions()
    validate_chunking(chunking)
    result = AddResult()
    files: dict[Path, None] = {}  # ordered set: the same file named twice is one entry
    for raw in raw_paths:
        for path, error in expand(raw):
            if path is None:
                result.errors.append(error)
            elif problem := check_pdf(path, settings.max_file_bytes):
                result.errors.append(problem)
            else:
                files[path.resolve()] = None
    if not files:
        raise UsageError("nothing to add: " + ("; ".join(result.errors) or "no paths given"))
    stored = [(path, *store_file(settings.blobs_dir, path)) for path in files]
    _record(settings, result, stored, collection, force, chunking)
    return result


def _record(
    settings: Settings,
    result: AddResult,
    stored: list[tuple[Path, str, int]],
    collection: str,
    force: bool,
    chunking: ChunkOptions,
) -> None:
    conn = connect(settings.state_db)
    try:
        known = {} if force else jobs.find_duplicates(conn, collection, (d for _, d, _ in stored))
        # One new job per distinct content: the same bytes under two names is one job.
        fresh: dict[str, jobs.NewJob] = {}
        for path, digest, size in stored:
            if digest not in known and digest not in fresh:
                fresh[digest] = jobs.NewJob(
                    kind="pdf",
                    source=str(path),
                    collection=collection,
                    content_hash=digest,
                    size_bytes=size,
                    options=chunking.as_dict(),
                )
        created = jobs.create_jobs(conn, list(fresh.values())) if fresh else []
    finally:
        conn.close()
    # Enqueue after the jobs are committed: a crash in between leaves a queued job
    # that recovery re-enqueues, never a message without a job.
    if created:
        JobQueue(settings).enqueue(j.id for j in created)
    new_by_hash = {j.content_hash: j for j in created}
    for path, digest, _ in stored:
        job = new_by_hash.get(digest)
        if job is not None and job.source == str(path):
            result.submitted.append(Submitted(job=job))
        else:
            dup = known.get(digest) or new_by_hash[digest]
            result.submitted.append(Submitted(job=dup, duplicate_of=dup.id))
