"""Embedding: chunking text to fit a model, and the models themselves.

:func:`make_embedder` returns the :class:`~ingestq.embed.base.Embedder` a name
stands for: ``openai:<model>`` for an OpenAI-compatible endpoint, anything else
a local sentence-transformers model (the packaged all-MiniLM-L6-v2 by default).
"""

from __future__ import annotations

from ingestq.embed.base import Embedder


def make_embedder(name: str) -> Embedder:
    """The embedder ``name`` stands for (loading a local model takes seconds)."""
    if name.startswith("openai:"):
        from ingestq.embed.openai_api import OpenAIEmbedder

        return OpenAIEmbedder(name.removeprefix("openai:"))
    from ingestq.embed.local import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(name)


__all__ = ["Embedder", "make_embedder"]
