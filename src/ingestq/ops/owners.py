"""Who sees what through the API: an owner's jobs, and an owner's collections.

A job records its owner (the token's owner that submitted it; None for the
local CLI). A non-admin principal finds only its own jobs: another owner's job
id is simply not found.

Collections are kept apart by name: owner ``alice``'s collection ``default`` is
stored as ``alice.default``. Every owner so has a ``default`` of their own,
and their searches can never reach another's chunks. Admins (and the local CLI)
use the stored names as they are, and so see every collection.
"""

from __future__ import annotations

from typing import Any

from ingestq.ops.inputs import validate_collection
from ingestq.ops.tokens import Principal
from ingestq.ops.views import job_detail
from ingestq.state.jobs import Job

SEP = "."


def owner_filter(who: Principal) -> str | None:
    """The owner whose jobs ``who`` may see; None: every job."""
    return None if who.admin else who.owner


def stored_collection(who: Principal, name: str) -> str:
    """The stored name of ``who``'s collection ``name``."""
    validate_collection(name)
    if who.admin:
        return name
    return validate_collection(f"{who.owner}{SEP}{name}")


def shown_collection(who: Principal, stored: str) -> str | None:
    """The name ``who`` knows the stored collection by; None if it is not theirs."""
    if who.admin:
        return stored
    prefix = f"{who.owner}{SEP}"
    return stored[len(prefix) :] if stored.startswith(prefix) else None


def job_view(who: Principal, job: Job) -> dict[str, Any]:
    """The job as ``status --json`` shows it, its collection named as ``who`` knows it."""
    view = job_detail(job)
    view["collection"] = shown_collection(who, job.collection) or job.collection
    return view
