"""Query a collection with the same model that built it."""

from __future__ import annotations

from ingestq.config import DEFAULT_COLLECTION, Settings
from ingestq.errors import ModelMismatchError, NotFoundError, UsageError
from ingestq.vectorstore import Hit, VectorStore


def search(
    settings: Settings, query: str, *, k: int = 5, collection: str = DEFAULT_COLLECTION
) -> list[Hit]:
    """The ``k`` chunks of ``collection`` closest to ``query``, best first."""
    if not query.strip():
        raise UsageError("the search query is empty")
    if k < 1:
        raise UsageError("-k must be at least 1")
    if not settings.chroma_dir.exists():
        raise NotFoundError("nothing has been ingested yet: run `ingestq add` and a worker")
    store = VectorStore(settings.chroma_dir)
    # Check the collection before loading the model: a typo should fail in a
    # second, not after the model's load.
    meta = store.collection_metadata(collection)
    if meta.get("embedding_model") != settings.model:
        raise ModelMismatchError(
            f"collection {collection!r} was built with {meta.get('embedding_model')!r}, "
            f"but INGESTQ_MODEL is {settings.model!r}"
        )
    from ingestq.openai_embedder import make_embedder

    embedder = make_embedder(settings.model)
    coll = store.collection(collection, embedder.name, embedder.dimension, create=False)
    vector = embedder.encode([query])[0]
    return store.query(coll, vector, k)
