"""The embedder's interface: what the pipeline and search need of a model."""

from __future__ import annotations

from typing import Any, Protocol

from ingestq.embed.chunking import TokenChunker


class Embedder(Protocol):
    """Turns text into unit-length vectors, and says how long a text it reads."""

    @property
    def name(self) -> str:
        """What collections record as their model: a model name or path, or ``openai:<model>``."""
        ...

    @property
    def dimension(self) -> int:
        """The length of its vectors."""
        ...

    @property
    def max_tokens(self) -> int:
        """Tokens it reads at most, special tokens included; it drops the rest."""
        ...

    def chunker(self, tokens: int | None = None, overlap: int | None = None) -> TokenChunker:
        """A chunker whose chunks this embedder reads whole; ``tokens`` is clamped to fit."""
        ...

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        """Unit-length float32 vectors, one row per text (a NumPy array)."""
        ...
