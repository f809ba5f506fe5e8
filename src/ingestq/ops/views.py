"""The JSON objects a job is shown as: by ``--json`` on the command line and by the API.

One place, so that ``status --json`` and ``GET /v1/jobs/{id}`` never drift apart.
"""

from __future__ import annotations

from typing import Any

from ingestq.state.jobs import Job

#: Every field ``status --json`` shows of a job, in its order.
DETAIL_FIELDS = (
    "id",
    "kind",
    "source",
    "collection",
    "state",
    "stage",
    "progress",
    "attempts",
    "error",
    "vector_count",
    "pages",
    "title",
    "final_url",
    "not_before",
    "unchanged",
    "reused",
    "embedded",
    "topics",
    "content_hash",
    "size_bytes",
    "options",
    "queued_at",
    "started_at",
    "completed_at",
    "updated_at",
    "lease_owner",
    "heartbeat_at",
    "owner",
)


def job_detail(job: Job) -> dict[str, Any]:
    """A job as ``status --json`` shows it."""
    data = job.to_dict()
    return {key: data[key] for key in DETAIL_FIELDS}


def job_brief(job: Job) -> dict[str, Any]:
    """A job as ``cancel --json`` and ``retry --json`` show it."""
    return {"id": job.id, "source": job.source, "state": job.state}


def job_removed(job: Job) -> dict[str, Any]:
    """A job as ``remove --json`` shows it."""
    return {"id": job.id, "source": job.source, "removed": True}
