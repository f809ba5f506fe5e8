"""A look at the vector store and the blob store: for ``ingestq doctor``.

A Chroma server is asked for its heartbeat and version over plain HTTP with a
short timeout before any client is made, so a host that does not answer is
reported in seconds; then its collections are listed with the models that
built them. An embedded store that was never made is said so, not created.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ingestq.config import Settings
from ingestq.errors import UnreachableError
from ingestq.masking import mask, scrub
from ingestq.store.vectors import CollectionMeta


@dataclass
class VectorsProbe:
    """What the vector store said."""

    where: str
    exists: bool
    server_version: str
    latency_ms: float
    collections: list[CollectionMeta] = field(default_factory=list)


def probe_vectors(settings: Settings, timeout_s: float) -> VectorsProbe:
    """The vector store's version, answer time and collections."""
    if settings.chroma_url:
        found = _heartbeat(settings.chroma_url, settings.chroma_token, timeout_s)
    else:
        import chromadb

        path = settings.chroma_dir
        found = VectorsProbe(str(path), path.exists(), f"Chroma {chromadb.__version__}", 0.0)
        if not found.exists:
            return found
    from ingestq.store import open_vector_store

    started = time.perf_counter()
    found.collections = sorted(open_vector_store(settings).collections(), key=lambda c: c.name)
    if not settings.chroma_url:
        found.latency_ms = (time.perf_counter() - started) * 1000
    return found


def _heartbeat(url: str, token: str | None, timeout_s: float) -> VectorsProbe:
    import httpx

    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(timeout=timeout_s, headers=headers) as client:
            started = time.perf_counter()
            beat = client.get(f"{base}/api/v2/heartbeat")
            latency = (time.perf_counter() - started) * 1000
            beat.raise_for_status()
            version = client.get(f"{base}/api/v2/version")
            version.raise_for_status()
    except (httpx.HTTPError, ValueError) as exc:
        reason = scrub(" ".join(str(exc).split()) or type(exc).__name__, url)[:300]
        raise UnreachableError(f"cannot reach the Chroma server at {mask(url)}: {reason}") from None
    return VectorsProbe(mask(url), True, f"Chroma {version.json()}", latency)


def describe_blobs(settings: Settings) -> tuple[str, int]:
    """Where the blobs of ``settings`` live, and how many are stored."""
    from ingestq.store import open_blob_store

    if not settings.database_url and not settings.home.exists():
        return str(settings.blobs_dir), 0  # opening the store would make the home
    store = open_blob_store(settings)
    try:
        where = getattr(store, "where", None) or getattr(store, "root", None)
        # Stored before a time ahead of now: every blob, through the store's own protocol.
        count = sum(1 for _ in store.older_than(-86400.0))
    finally:
        store.close()
    return mask(str(where or type(store).__name__)), count
