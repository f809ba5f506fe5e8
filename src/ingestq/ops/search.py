"""``search``: query a collection with the same model that built it."""

from __future__ import annotations

from ingestq.config import DEFAULT_COLLECTION, Settings
from ingestq.errors import UsageError
from ingestq.store import open_vector_store
from ingestq.store.vectors import Hit


def search(
    settings: Settings, query: str, *, k: int = 5, collection: str = DEFAULT_COLLECTION
) -> list[Hit]:
    """The ``k`` chunks of ``collection`` closest to ``query``, best first."""
    if not query.strip():
        raise UsageError("the search query is empty")
    if k < 1:
        raise UsageError("{k} must be at least 1", params=("k",))
    store = open_vector_store(settings, create=False)
    # Check the collection before loading the model: a typo should fail in a
    # second, not after the model's load.
    store.check_collection(collection, settings.model)
    from ingestq.embed import make_embedder

    embedder = make_embedder(settings.model)
    vector = embedder.encode([query])[0]
    return store.query(collection, vector, k)
