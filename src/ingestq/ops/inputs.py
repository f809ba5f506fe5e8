"""What a submission may hold: its options, checked, and the lists it reads.

Checked at submission, so a mistake surfaces at ``add`` (or the API's 4xx),
never later as a failed job. Cheap: standard library only.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestq.config import DEFAULT_COLLECTION, Settings
from ingestq.errors import UsageError
from ingestq.readers.urls import check_url
from ingestq.times import format_time, parse_duration, parse_user_time


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
    #: Who submits (an API token's owner); None: the local CLI.
    owner: str | None = None

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


#: Chroma's rule for a collection's name, checked at submission so that a bad
#: name is a usage error at `add`, not a failed job in the worker.
_COLLECTION = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{1,510})[A-Za-z0-9]")


def validate_collection(name: str) -> str:
    """``name`` if Chroma accepts it as a collection name; else a :class:`UsageError`."""
    ok = bool(_COLLECTION.fullmatch(name)) and ".." not in name and not _is_ipv4(name)
    if not ok:
        raise UsageError(
            f"invalid collection name {name!r}: use 3-512 ASCII letters, digits, '.', '_' or '-',"
            " starting and ending with a letter or digit, not an IP address"
        )
    return name


def _is_ipv4(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def validate_chunking(options: ChunkOptions) -> None:
    if options.tokens is not None and options.tokens < 16:
        raise UsageError("{chunk_tokens} must be at least 16", params=("chunk_tokens",))
    if options.overlap is not None and options.overlap < 0:
        raise UsageError("{chunk_overlap} cannot be negative", params=("chunk_overlap",))
    if (
        options.tokens is not None
        and options.overlap is not None
        and options.overlap * 2 >= options.tokens
    ):
        # Half or more would make every chunk step forward by less than it repeats.
        raise UsageError(
            "{chunk_overlap} must be less than half of {chunk_tokens}",
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
