"""``doctor``: is every backend this configuration names there, and fit to use?

One check per part: the state database, the queue, the vector store, the blob
store, the embedding model, the device it runs on, and the workers seen lately. Each runs on its own
with a short timeout, so a server that does not answer fails its own check in
seconds and the others still run; a failure is a line, not a traceback. What
the checks say never holds a password: every URL is masked, every driver's
message scrubbed. Nothing is created or migrated: a home never used reads as
not made yet, which is fine.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ingestq.config import Settings
from ingestq.masking import mask, scrub
from ingestq.state.probe import StateProbe

log = logging.getLogger(__name__)

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass
class Check:
    """One part's health: ``status`` is ok, warn (works, but worth a look), fail or skip."""

    name: str
    status: str
    where: str
    summary: str
    latency_ms: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != FAIL

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self) | {"ok": self.ok}
        if self.latency_ms is not None:
            out["latency_ms"] = round(self.latency_ms, 1)
        return out


@dataclass
class Report:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks], "ok": self.ok}


def doctor(settings: Settings, *, timeout_s: float = 3.0, embed: bool = False) -> Report:
    """Run every check against the backends ``settings`` name; each failure is its own."""
    found: list[StateProbe] = []

    def state() -> Check:
        from ingestq.state.probe import probe

        found.append(probe(settings, timeout_s, settings.lease_s))
        return _state(found[0])

    checks = [
        _guarded(settings, "state", state),
        _guarded(settings, "queue", lambda: _queue(settings, timeout_s)),
        _guarded(settings, "vectors", lambda: _vectors(settings, timeout_s)),
        _guarded(settings, "blobs", lambda: _blobs(settings, found)),
        _guarded(settings, "model", lambda: _model(settings, embed)),
        _guarded(settings, "device", lambda: _device(settings)),
        _guarded(settings, "workers", lambda: _workers(settings, found)),
    ]
    return Report(checks)


def _guarded(settings: Settings, name: str, check: Callable[[], Check]) -> Check:
    """The check's result, or its failure as one line with every secret masked."""
    try:
        return check()
    except Exception as exc:  # a check's failure is its row, whatever raised it
        log.debug("doctor: the %s check failed", name, exc_info=True)
        message = " ".join(str(exc).split()) or type(exc).__name__
        return Check(name, FAIL, _where(settings, name), _secret_free(settings, message))


def _secret_free(settings: Settings, text: str) -> str:
    text = scrub(text, settings.database_url, settings.queue_url, settings.chroma_url)
    for secret in (settings.chroma_token, settings.signing_key):
        if secret:
            text = text.replace(secret, "***")
    return text[:400]


def _where(settings: Settings, name: str) -> str:
    """Where a part is, for a check that failed before it could say."""
    urls = {
        "state": (settings.database_url, settings.state_db),
        "queue": (settings.queue_url, settings.queue_db),
        "vectors": (settings.chroma_url, settings.chroma_dir),
        "blobs": (settings.database_url, settings.blobs_dir),
    }
    if name in urls:
        url, path = urls[name]
        return mask(url) if url else str(path)
    if name == "device":
        return f"INGESTQ_DEVICE={settings.device}"
    return settings.model if name == "model" else ""


def _state(p: StateProbe) -> Check:
    details = {"server_version": p.server_version, "schema": p.schema, "migrations": p.latest}
    if not p.exists:
        return Check("state", OK, p.where, "not made yet: made at first use", None, details)
    summary = f"{p.server_version}, schema {p.schema} of {p.latest}"
    if p.schema > p.latest:
        summary += ": written by a newer ingestq; upgrade ingestq"
        return Check("state", FAIL, p.where, summary, p.latency_ms, details)
    if p.schema < p.latest:
        summary += " (brought up to date at next use)"
    return Check("state", OK, p.where, summary, p.latency_ms, details)


def _queue(settings: Settings, timeout_s: float) -> Check:
    from ingestq.queue.probe import probe

    p = probe(settings, timeout_s)
    details = {"server_version": p.server_version, "pending": p.pending}
    if not p.exists:
        return Check("queue", OK, p.where, "not made yet: made at first use", None, details)
    summary = f"{p.server_version}, {p.pending} message(s) pending"
    return Check("queue", OK, p.where, summary, p.latency_ms, details)


def _vectors(settings: Settings, timeout_s: float) -> Check:
    from ingestq.store.probe import probe_vectors

    p = probe_vectors(settings, timeout_s)
    if not p.exists:
        summary = "not made yet: made by the first worker"
        return Check("vectors", OK, p.where, summary, None, {"server_version": p.server_version})
    rows = [
        {
            "name": c.name,
            "chunks": c.chunks,
            "model": c.model,
            "dimension": c.dimension,
            "model_matches": c.model == settings.model,
        }
        for c in p.collections
    ]
    wrong = [r for r in rows if not r["model_matches"]]
    chunks = sum(c.chunks for c in p.collections)
    summary = f"{p.server_version}, {len(rows)} collection(s), {chunks} chunk(s)"
    status = OK
    if wrong:
        status = FAIL
        summary += "; " + "; ".join(
            f"{r['name']!r} was built with {r['model']!r}, not the configured {settings.model!r}"
            for r in wrong
        )
    details = {"server_version": p.server_version, "collections": rows}
    return Check("vectors", status, p.where, summary, p.latency_ms, details)


def _blobs(settings: Settings, found: list[StateProbe]) -> Check:
    """The blob store: files under the home, or tables of the state database on a server."""
    from ingestq.store.probe import describe_blobs

    if settings.shared_state and not found:  # the blobs are in it: no second wait
        where = mask(settings.database_url or "")
        return Check("blobs", SKIP, where, "unknown: the state database could not be read")
    where, count = describe_blobs(settings)
    return Check("blobs", OK, where, f"{count} stored", None, {"count": count})


def _model(settings: Settings, embed: bool) -> Check:
    from ingestq.embed.probe import embed_probe, probe_model

    p = probe_model(settings)
    if embed:
        embed_probe(settings, p)
    details = {"max_tokens": p.max_tokens, "dimension": p.dimension}
    status = OK if p.local or embed else WARN
    return Check("model", status, f"{p.name} ({p.where})", p.detail, p.embed_ms, details)


def _device(settings: Settings) -> Check:
    """Where a worker here would embed: the device, its memory, the precision, the batch.

    On a host without a GPU driver this imports no torch (see embed/devices.py),
    so the check stays instant; a GPU host pays torch's import to ask it.
    """
    from ingestq.embed import devices

    where = f"INGESTQ_DEVICE={settings.device}"
    if settings.model.startswith("openai:"):
        return Check("device", SKIP, where, "none here: the model runs at its endpoint")
    p = devices.plan(settings)
    name, memory = devices.device_memory(p.device)
    details = {
        "device": p.device,
        "name": name,
        "memory_bytes": memory,
        "precision": p.precision,
        "batch_size": p.batch_size,
        "note": p.note,
    }
    return Check("device", WARN if p.note else OK, where, devices.describe(p), None, details)


def _workers(settings: Settings, found: list[StateProbe]) -> Check:
    """The workers seen within a lease: from the shared state, or the home's lock."""
    if settings.shared_state:
        if not found:
            return Check("workers", SKIP, "the state database", "unknown: it could not be read")
        seen = [
            {
                "owner": w.owner,
                "host": w.host,
                "pid": w.pid,
                "started_at": w.started_at,
                "seen_at": w.seen_at,
                **json.loads(w.setup),
            }
            for w in found[0].workers
        ]
        waiting = found[0].waiting
    else:
        seen = _lock_holder(settings)
        waiting = found[0].waiting if found else 0
    window = f"in the last {settings.lease_s:g} s"
    names = ", ".join(f"{w['owner']} (seen {w['seen_at']})" for w in seen)
    summary = f"{len(seen)} seen {window}: {names}" if seen else f"none seen {window}"
    status = OK
    if waiting and not seen:
        status, summary = WARN, f"{summary}; {waiting} job(s) wait for one"
    where = "the state database" if settings.shared_state else str(settings.worker_lock)
    return Check("workers", status, where, summary, None, {"workers": seen, "waiting": waiting})


def _lock_holder(settings: Settings) -> list[dict[str, Any]]:
    """The worker holding an embedded home's lock, if one does: host:pid and its last mark."""
    from ingestq.times import format_time
    from ingestq.worker.lock import worker_running

    if not worker_running(settings):
        return []
    from datetime import UTC, datetime

    path = settings.worker_lock
    owner = path.read_text().strip()
    host, _, pid = owner.rpartition(":")
    seen = format_time(datetime.fromtimestamp(path.stat().st_mtime, UTC))
    return [{"owner": owner, "host": host, "pid": int(pid or 0), "seen_at": seen}]
