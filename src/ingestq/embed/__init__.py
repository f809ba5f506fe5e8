"""Embedding: chunking text to fit a model, and the models themselves.

:func:`make_embedder` returns the :class:`~ingestq.embed.base.Embedder` a name
stands for: ``openai:<model>`` for an OpenAI-compatible endpoint, anything else
a local sentence-transformers model (the packaged all-MiniLM-L6-v2 by default).
"""

from __future__ import annotations

import threading

from ingestq.embed.base import Embedder

_loaded: dict[str, Embedder] = {}
_loading = threading.Lock()


def make_embedder(name: str) -> Embedder:
    """The embedder ``name`` stands for; a local model is loaded once per process.

    A local model takes seconds and hundreds of megabytes to load, so every
    user in a process (worker threads, ``--wait``, a server answering searches)
    shares one; it is safe to share between threads. An endpoint's client is
    cheap, and reads its address from the environment, so it is made anew.
    """
    if name.startswith("openai:"):
        from ingestq.embed.openai_api import OpenAIEmbedder

        return OpenAIEmbedder(name.removeprefix("openai:"))
    with _loading:
        if name not in _loaded:
            from ingestq.embed.local import SentenceTransformerEmbedder

            _loaded[name] = SentenceTransformerEmbedder(name)
        return _loaded[name]


__all__ = ["Embedder", "make_embedder"]
