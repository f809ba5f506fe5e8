"""The HNSW settings of ingestq's collections: ``ef_search`` high enough for recall.

Chroma's default ``ef_search`` (100) let recall@10 against exact search fall to
0.9775 at 1,000,000 chunks (benchmarks/bigstore.py); ingestq's collections use
:data:`~ingestq.store.chroma.EF_SEARCH`, and a writer raises it on collections made
before. Embedded and on a Chroma server.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("backend")


def _ef(store: object, name: str) -> int:
    coll = store._client.get_collection(name, embedding_function=None)  # type: ignore[attr-defined]
    return int(coll.configuration_json["hnsw"]["ef_search"])


def test_collections_get_ingestq_ef_search_and_older_ones_are_raised() -> None:
    from ingestq.config import load_settings
    from ingestq.store import open_vector_store
    from ingestq.store.chroma import EF_SEARCH

    store = open_vector_store(load_settings())
    store.ensure_collection("fresh", "some-model", 4)
    assert _ef(store, "fresh") == EF_SEARCH > 100
    # A collection made with Chroma's defaults, as ingestq made them before.
    store._client.create_collection(  # type: ignore[attr-defined]
        "older",
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"embedding_model": "some-model", "dimension": 4},
        embedding_function=None,
    )
    assert _ef(store, "older") == 100
    store.check_collection("older", "some-model")  # a reader changes nothing
    assert _ef(store, "older") == 100
    store.ensure_collection("older", "some-model", 4)  # a writer raises it
    assert _ef(store, "older") == EF_SEARCH
    # And vectors are still found: the setting changed nothing else.
    vectors = np.eye(4, dtype=np.float32)[:2]
    store.add("older", ["a", "b"], vectors, ["one", "two"],
              [{"job_id": "j", "source": "s"}, {"job_id": "j", "source": "s"}])  # fmt: skip
    assert [h.text for h in store.query("older", vectors[1], 1)] == ["two"]
