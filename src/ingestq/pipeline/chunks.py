"""Chunks go into two indexes at once: the vectors in the vector store, the text in
the lexical index of the state database. Everything that writes or deletes
chunks does it here, so the two always hold the same chunks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingestq.state import lexical
from ingestq.state.db import Database
from ingestq.store.vectors import VectorStore


class ChunkIndex:
    """The vector store and the lexical index, written and pruned together."""

    def __init__(self, store: VectorStore, db: Database) -> None:
        self.store = store
        self.db = db

    def add(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: Any,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Write a batch of chunks; their text is indexed in one transaction after."""
        self.store.add(collection, ids, vectors, texts, metadatas)
        lexical.index_chunks(
            self.db,
            [
                _row(collection, {"id": chunk_id, "text": text, "metadata": meta})
                for chunk_id, text, meta in zip(ids, texts, metadatas, strict=True)
            ],
        )

    def delete_job(self, collection: str, job_id: str) -> None:
        self.store.delete_job(collection, job_id)
        lexical.delete_job(self.db, collection, job_id)

    def delete_document(self, collection: str, source: str, *, keep_job: str | None = None) -> None:
        self.store.delete_document(collection, source, keep_job=keep_job)
        lexical.delete_document(self.db, collection, source, keep_job=keep_job)

    def repair(self) -> int:
        """Make the lexical index hold exactly the chunks the vector store holds.

        Run by a worker before its first job: a home from before the lexical
        index, or one whose worker died between the two writes, is made whole
        here. Cheap when they agree: one count per collection.
        """
        changed = 0
        for collection in self.store.collections():
            if collection.chunks == lexical.count(self.db, collection.name):
                continue
            indexed = lexical.chunk_ids(self.db, collection.name)
            stored: set[str] = set()
            missing: list[lexical.ChunkRow] = []
            for record in self.store.records(collection.name):
                stored.add(record["id"])
                if record["id"] not in indexed:
                    missing.append(_row(collection.name, record))
            for start in range(0, len(missing), 500):
                lexical.index_chunks(self.db, missing[start : start + 500])
            lexical.delete_chunks(self.db, sorted(indexed - stored))
            changed += len(missing) + len(indexed - stored)
        return changed


def _row(collection: str, record: dict[str, Any]) -> lexical.ChunkRow:
    meta = record["metadata"] or {}
    return lexical.ChunkRow(
        chunk_id=record["id"],
        job_id=str(meta.get("job_id", "")),
        collection=collection,
        source=str(meta.get("source", "")),
        chunk_index=int(meta.get("chunk_index", 0)),
        page=meta.get("page"),
        section=meta.get("section") or None,
        text=record["text"] or "",
    )
