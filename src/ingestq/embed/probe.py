"""Whether the configured embedding model can load here, offline: for ``ingestq doctor``.

Cheap by default: the model's files are there and its tokenizer loads (what
chunking and the ONNX query path need), and whether its ONNX export was made.
Loading the model and embedding a probe text costs seconds; that is done only
when asked (:func:`embed_probe`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ingestq.config import Settings
from ingestq.errors import ConfigError
from ingestq.masking import mask


@dataclass
class ModelProbe:
    """What was found of the model."""

    name: str
    where: str  # its directory, or the endpoint
    detail: str  # what was checked, in a few words
    max_tokens: int | None = None
    dimension: int | None = None  # known once it embedded something
    embed_ms: float | None = None
    local: bool = True  # False: the model is a hub name not found on disk


def probe_model(settings: Settings) -> ModelProbe:
    """Check the model's files and tokenizer without loading the model.

    :class:`ConfigError` if a local model's files are missing or unreadable.
    """
    name = settings.model
    if name.startswith("openai:"):
        endpoint = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        key = "an API key is set" if os.environ.get("OPENAI_API_KEY") else "no OPENAI_API_KEY"
        return ModelProbe(name, mask(endpoint), f"an endpoint, not checked ({key})")
    from ingestq.embed.local import model_path

    try:
        path = Path(model_path(name))
    except ImportError as exc:  # the packaged model's package is gone
        raise ConfigError(f"model {name!r} cannot be found: {exc}") from None
    if not path.is_dir():
        detail = "not a directory: loads only from the Hugging Face cache (try --embed)"
        return ModelProbe(name, str(path), detail, local=False)
    return ModelProbe(name, str(path), *_files(settings, path))


def _files(settings: Settings, path: Path) -> tuple[str, int | None]:
    from ingestq.embed import onnx
    from ingestq.embed.tokens import from_file

    if not (path / "tokenizer.json").is_file():
        raise ConfigError(f"model {settings.model!r} at {path} has no tokenizer.json")
    try:
        from_file(path)
        config = json.loads((path / "sentence_bert_config.json").read_text())
        max_tokens = int(config["max_seq_length"])
    except Exception as exc:  # OSError, a bad JSON, or the tokenizers library's own
        raise ConfigError(f"model {settings.model!r} at {path} cannot be read: {exc}") from None
    exported = (onnx.export_dir(settings.models_dir, path) / onnx.FILE).is_file()
    made = "made" if exported else "not made yet (the first worker makes it)"
    return f"files and tokenizer load offline; ONNX export {made}", max_tokens


def embed_probe(settings: Settings, found: ModelProbe) -> None:
    """Load the model as a worker would and embed one text: its dimension and time."""
    from ingestq.embed import load_embedder

    started = time.perf_counter()
    embedder = load_embedder(settings)
    vectors = embedder.encode(["ingestq doctor checks that the model embeds."])
    found.embed_ms = (time.perf_counter() - started) * 1000
    found.dimension = int(vectors.shape[1])
    found.detail += f"; embeds ({found.dimension} dims)"
