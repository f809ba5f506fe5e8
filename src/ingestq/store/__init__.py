"""Where documents and their chunks are kept: blobs and vectors.

:func:`open_vector_store` and :func:`open_blob_store` return the backends the
settings name: an embedded Chroma and a directory of files under the home, or
a Chroma server and the state database on PostgreSQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingestq.config import Settings
from ingestq.errors import NotFoundError
from ingestq.home import prepare_home
from ingestq.masking import mask
from ingestq.store.blobs import BlobStore, FileBlobStore

if TYPE_CHECKING:
    from ingestq.state.db import Database
    from ingestq.store.vectors import VectorStore


def open_vector_store(settings: Settings, *, create: bool = True) -> VectorStore:
    """The vector store of ``settings``: the Chroma server at ``INGESTQ_CHROMA_URL``, else
    Chroma under the home.

    With ``create=False``, a home that never stored a vector is a
    :class:`~ingestq.errors.NotFoundError` instead of a new, empty store.
    """
    if settings.chroma_url:
        from ingestq.store.chroma import ChromaStore  # imports chromadb: about 0.5 s

        return ChromaStore.server(
            settings.chroma_url,
            settings.chroma_token,
            settings.chroma_tenant,
            settings.chroma_database,
            token_header=settings.chroma_token_header,
            retry_s=settings.chroma_retry_s,
        )
    if not create and not settings.chroma_dir.exists():
        raise NotFoundError("nothing has been ingested yet: run `ingestq add` and a worker")
    from ingestq.store.chroma import ChromaStore

    prepare_home(settings)
    return ChromaStore.embedded(settings.chroma_dir)


def release_vector_store(settings: Settings) -> None:
    """Let go of this process's embedded vector store, so that the next
    :func:`open_vector_store` reads what other processes wrote since (a
    long-lived process needs it; a client of a Chroma server always does)."""
    if settings.chroma_url:
        return
    from ingestq.store.chroma import release_embedded

    release_embedded(settings.chroma_dir)


def open_blob_store(settings: Settings, db: Database | None = None) -> BlobStore:
    """The blob store of ``settings``: the state database on PostgreSQL at
    ``INGESTQ_DATABASE_URL``, where every host reaches it, else ``blobs/`` under the home.

    On PostgreSQL it uses ``db``, the caller's open state database, if given
    (one pool per process, not two); else it opens one, which its ``close`` closes.
    """
    if settings.database_url:
        from ingestq.store.pgblobs import PgBlobStore

        where = f"{mask(settings.database_url)} (table blobs)"
        if db is not None:
            return PgBlobStore(db, where=where)
        from ingestq.state import open_state

        return PgBlobStore(open_state(settings, connections=2), owns_db=True, where=where)
    prepare_home(settings)
    return FileBlobStore(settings.blobs_dir)


__all__ = ["open_blob_store", "open_vector_store", "release_vector_store"]
