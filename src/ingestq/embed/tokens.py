"""Word-piece tokenizers through the ``tokenizers`` library alone.

A model's ``tokenizer.json`` is all it takes, so chunking and the ONNX query
path never import transformers (which brings torch). The chunker needs a
tokenizer that never truncates or pads; the model's own input needs one that
truncates to what the model reads and pads a batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def from_file(model_dir: Path) -> Any:
    """The tokenizer of the model in ``model_dir``, untruncated and unpadded."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def copy_of(tokenizer: Any) -> Any:
    """An untruncated, unpadded copy of a ``tokenizers.Tokenizer`` (which another
    thread may be changing the settings of)."""
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy


def for_model(tokenizer: Any, max_tokens: int) -> Any:
    """A copy that truncates to ``max_tokens`` (special tokens included) and pads a batch."""
    copy = copy_of(tokenizer)
    copy.enable_truncation(max_length=max_tokens)
    copy.enable_padding()
    return copy


def special_tokens(tokenizer: Any) -> int:
    """How many special tokens ([CLS], [SEP]) one text gets: they count against the limit."""
    return len(tokenizer.encode("", add_special_tokens=True).ids)
