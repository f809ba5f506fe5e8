"""``INGESTQ_EMBEDDER=openai:<model>``: embeddings from an OpenAI-compatible endpoint.

The endpoint and key come from ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``, as
the ``openai`` client reads them. Chunks are sized to the model's input limit
(``INGESTQ_EMBEDDER_MAX_TOKENS``, default 8191). Counting needs a tokenizer
that works offline: the packaged all-MiniLM-L6-v2 word-piece tokenizer, which
splits text into at least as many pieces as OpenAI's byte-pair encodings for
the languages we see, so a chunk it counts as fitting does fit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ingestq.backoff import parse_retry_after
from ingestq.config import DEFAULT_MODEL
from ingestq.embed import tokens
from ingestq.embed.chunking import TokenChunker, limits_for
from ingestq.errors import PermanentJobError, TransientJobError

DEFAULT_MAX_TOKENS = 8191


class OpenAIEmbedder:
    """An :class:`~ingestq.embed.base.Embedder` over HTTP."""

    special_tokens = 0

    def __init__(self, model: str, max_tokens: int | None = None) -> None:
        import openai

        from ingestq.embed.local import model_path

        self.name = f"openai:{model}"
        self._model = model
        self.max_tokens = max_tokens or int(
            os.environ.get("INGESTQ_EMBEDDER_MAX_TOKENS") or DEFAULT_MAX_TOKENS
        )
        self._openai = openai
        self.client = openai.OpenAI(timeout=120, max_retries=0)  # our retries, our backoff
        self.tokenizer: Any = tokens.from_file(Path(model_path(DEFAULT_MODEL)))
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.encode(["dimension probe"]).shape[1])
        return self._dimension

    def chunker(self, tokens: int | None = None, overlap: int | None = None) -> TokenChunker:
        size, lap = limits_for(self.max_tokens, self.special_tokens, tokens, overlap)
        return TokenChunker(self.tokenizer, size, lap)

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        """Unit-length float32 vectors, one row per text."""
        import numpy as np

        rows: list[list[float]] = []
        for start in range(0, len(texts), batch_size):
            rows += self._embed(texts[start : start + batch_size])
        matrix = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1, norms)

    def _embed(self, batch: list[str]) -> list[list[float]]:
        openai = self._openai
        try:
            reply = self.client.embeddings.create(model=self._model, input=batch)
        except (openai.RateLimitError, openai.InternalServerError) as exc:
            wait = _retry_after(exc)
            raise TransientJobError(
                f"the embeddings endpoint answered HTTP {exc.status_code} (transient)",
                retry_after=wait,
            ) from exc
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise TransientJobError(
                f"cannot reach the embeddings endpoint: {exc} (transient)"
            ) from exc
        except openai.APIStatusError as exc:
            raise PermanentJobError(
                f"the embeddings endpoint refused the request: HTTP {exc.status_code}"
            ) from exc
        ordered = sorted(reply.data, key=lambda d: d.index)
        return [list(d.embedding) for d in ordered]


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    return parse_retry_after(headers.get("retry-after"))
