"""What a submission may hold: its options, checked, and the files and lists it names.

Checked at submission, so a mistake surfaces at ``add`` (or the API's 4xx),
never later as a failed job. Cheap: standard library only.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestq.config import DEFAULT_COLLECTION, Settings
from ingestq.errors import UsageError
from ingestq.readers.urls import check_url
from ingestq.times import format_time, parse_duration, parse_user_time

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


@dataclass(frozen=True)
class SubmitOptions:
    """What every submission (files, URLs, a directory sync) may say about its jobs."""

    collection: str = DEFAULT_COLLECTION
    #: Queue a new job even if the same document is already queued or ingested.
    force: bool = False
    chunking: ChunkOptions = field(default_factory=ChunkOptions)
    #: Hold the jobs until then (ISO 8601 UTC; see :func:`start_time`); None: now.
    start_at: str | None = None
    #: POST each job's outcome here (default ``INGESTQ_CALLBACK_URL``).
    callback: str | None = None

    def job_options(self, settings: Settings) -> dict[str, Any]:
        """Check the options; what each job records of them."""
        validate_collection(self.collection)
        validate_chunking(self.chunking)
        return self.chunking.as_dict() | callback_option(settings, self.callback)


def start_time(delay: str | None = None, at: str | None = None) -> str | None:
    """When a job may first run: ``delay`` like "90s", "10m", "2h", "1d", or ``at`` ISO 8601.

    A time without a zone is taken as UTC. None means now.
    """
    from datetime import UTC, datetime, timedelta

    if delay and at:
        raise UsageError("give {delay} or {at}, not both", params=("delay", "at"))
    try:
        if delay:
            return format_time(
                datetime.now(UTC) + timedelta(seconds=parse_duration(delay, "delay"))
            )
        if at:
            return format_time(parse_user_time(at, "at"))
    except OverflowError:
        param = "delay" if delay else "at"
        raise UsageError(f"{{{param}}} is too far in the future", params=(param,)) from None
    return None


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
        raise UsageError("{chunk_tokens} must be at least 16", params=("chunk_tokens",))
    if options.overlap is not None and options.overlap < 0:
        raise UsageError("{chunk_overlap} cannot be negative", params=("chunk_overlap",))
    if (
        options.tokens is not None
        and options.overlap is not None
        and options.overlap >= options.tokens
    ):
        raise UsageError(
            "{chunk_overlap} must be smaller than {chunk_tokens}",
            params=("chunk_overlap", "chunk_tokens"),
        )


def callback_option(settings: Settings, callback: str | None) -> dict[str, str]:
    """The job option for a callback URL (default ``INGESTQ_CALLBACK_URL``), checked."""
    url = callback or settings.callback_url
    if not url:
        return {}
    if problem := check_url(url):
        problem = problem.replace(" be scraped", " receive callbacks")
        raise UsageError(f"{{callback}} {problem}", params=("callback",))
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


def read_list(path: str) -> list[str]:
    """Entries from a list file, or from standard input when ``path`` is ``-``."""
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
