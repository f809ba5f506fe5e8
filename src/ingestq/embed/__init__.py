"""Embedding: chunking text to fit a model, and the models themselves.

:func:`load_embedder` returns the :class:`~ingestq.embed.base.Embedder` the
settings name, run the fastest way this machine has: a local model through
ONNX Runtime once it has been exported (no torch to import), else through
sentence-transformers (exporting it for next time). On a GPU (see
:mod:`devices`) it runs on sentence-transformers there. ``openai:<model>`` is an
OpenAI-compatible endpoint.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ingestq.embed.base import Embedder

if TYPE_CHECKING:
    from ingestq.config import Settings

log = logging.getLogger(__name__)

_loaded: dict[str, Embedder] = {}
_loading = threading.Lock()


def make_embedder(name: str, device: str = "cpu", precision: str = "fp32") -> Embedder:
    """The embedder ``name`` stands for, on PyTorch; a local model is loaded once per process
    (and per device and precision).

    A local model takes seconds and hundreds of megabytes to load, so every
    user in a process (worker threads, ``--wait``, a server answering searches)
    shares one; it is safe to share between threads. An endpoint's client is
    cheap, and reads its address from the environment, so it is made anew.
    """
    if name.startswith("openai:"):
        from ingestq.embed.openai_api import OpenAIEmbedder

        return OpenAIEmbedder(name.removeprefix("openai:"))
    key = name if (device, precision) == ("cpu", "fp32") else f"{name}@{device}/{precision}"
    with _loading:
        if key not in _loaded:
            from ingestq.embed.local import SentenceTransformerEmbedder

            _loaded[key] = SentenceTransformerEmbedder(name, device, precision)
        return _loaded[key]


def load_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings`` name, on ONNX Runtime where it can be (see :mod:`onnx`)."""
    name, backend = settings.model, settings.embed_backend
    if name.startswith("openai:"):
        return make_embedder(name)
    from ingestq.embed.devices import plan

    where = plan(settings)
    if where.note:
        log.warning("%s", where.note)
    if where.device != "cpu":  # ONNX Runtime runs on the CPU here: a GPU needs torch
        return make_embedder(name, where.device, where.precision)
    model_dir = _model_dir(name)
    if backend == "torch" or model_dir is None:  # a hub name: nothing to key an export by
        _torch_threads(settings.embed_threads)
        return make_embedder(name)
    from ingestq.embed import onnx

    exported = onnx.export_dir(settings.models_dir, model_dir)
    if not (exported / onnx.FILE).exists():
        torch_model = make_embedder(name)
        try:
            onnx.export(torch_model, exported)
        except Exception as exc:  # no onnx package, an exotic model: PyTorch works too
            log.warning("kept PyTorch for %s: it could not be exported to ONNX (%s)", name, exc)
            return torch_model
        log.warning("made an ONNX copy of %s in %s: later starts skip PyTorch", name, exported)
    with _loading:
        key = str(exported)
        if key not in _loaded:
            _loaded[key] = onnx.OnnxEmbedder(name, model_dir, exported, settings.embed_threads)
        return _loaded[key]


def _torch_threads(threads: int) -> None:
    """Cap PyTorch's threads (for the whole process, as PyTorch allows)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def _model_dir(name: str) -> Path | None:
    from ingestq.embed.local import model_path

    path = Path(model_path(name))
    return path if (path / "tokenizer.json").is_file() else None


__all__ = ["Embedder", "load_embedder", "make_embedder"]
