"""Where documents and their chunks are kept: blobs and vectors.

:func:`open_vector_store` and :func:`open_blob_store` return the backends the
settings name: an embedded Chroma and a directory of files, under the home.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingestq.config import Settings
from ingestq.errors import NotFoundError
from ingestq.home import prepare_home
from ingestq.store.blobs import BlobStore, FileBlobStore

if TYPE_CHECKING:
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
        )
    if not create and not settings.chroma_dir.exists():
        raise NotFoundError("nothing has been ingested yet: run `ingestq add` and a worker")
    from ingestq.store.chroma import ChromaStore

    prepare_home(settings)
    return ChromaStore.embedded(settings.chroma_dir)


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store of ``settings``: ``blobs/`` under the home."""
    prepare_home(settings)
    return FileBlobStore(settings.blobs_dir)


__all__ = ["open_blob_store", "open_vector_store"]
