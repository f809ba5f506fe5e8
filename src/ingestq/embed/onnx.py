"""The local model through ONNX Runtime: no torch, so a cold ``search`` starts in a blink.

Importing torch and sentence-transformers takes about six seconds; ONNX Runtime
and ``tokenizers`` take a tenth of that. So a local model is exported once to
ONNX (:func:`export`, which needs torch and the ``onnx`` package: the worker
does it at its first start, or the first ``search`` that finds none) and cached
under the home, keyed by the model's files. The exported graph includes the
model's mean pooling and normalisation, so it returns the same unit vectors:
an export whose vectors differ from PyTorch's (cosine below 0.9999 on probe
texts) is refused and thrown away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ingestq.embed.chunking import TokenChunker, limits_for
from ingestq.embed.local import PROBES
from ingestq.embed.tokens import for_model, from_file, special_tokens
from ingestq.errors import ConfigError

log = logging.getLogger(__name__)

#: Bumped when the exported graph changes, so older exports are made again.
#: 3: attention, GELU and layer norms fused into ONNX Runtime's own operators.
FORMAT = 3
FILE = "model.onnx"
#: The least cosine between an export's vectors and PyTorch's on the probe texts.
AGREEMENT = 0.9999


def export_dir(models_root: Path, model_dir: Path) -> Path:
    """Where the export of the model in ``model_dir`` lives: named by what the model is.

    The key is the model's files (names, sizes, modification times), so a
    model changed in place gets a new export; it is cheap to compute at every start.
    """
    listing: list[object] = [FORMAT]
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        info = path.stat()
        listing.append(f"{path.relative_to(model_dir)}:{info.st_size}:{info.st_mtime_ns}")
    key = hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]
    return models_root / f"{model_dir.name}-{key}"


class OnnxEmbedder:
    """An :class:`~ingestq.embed.base.Embedder` running an exported model on ONNX Runtime."""

    def __init__(self, name: str, model_dir: Path, exported: Path, threads: int = 0) -> None:
        import onnxruntime

        self.name = name
        self.exported = exported
        # The CPU provider alone: a GPU embeds through PyTorch (see devices.py),
        # which needs no onnxruntime-gpu build matched to the host's CUDA.
        self.device, self.precision = "cpu", "fp32"
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.max_tokens: int = int(config["max_seq_length"])
        self._model_dir = model_dir
        self._model_tokenizer = for_model(from_file(model_dir), self.max_tokens)
        self.special_tokens: int = special_tokens(self._model_tokenizer)
        self._chunk_tokenizer: Any = None  # made by the first chunker(): search needs none
        options = onnxruntime.SessionOptions()
        # Its threads would spin waiting for work between batches, taking a core
        # from the parser; the model's own speed does not need them to.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            # Several workers on one host split its cores instead of fighting for them.
            options.intra_op_num_threads = threads
        # The file was optimised when it was exported (see export): doing it
        # again at every load would be a third of a cold search's model time.
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(exported / FILE), options, providers=["CPUExecutionProvider"]
        )
        self.dimension: int = int(self._session.get_outputs()[0].shape[1])
        self._lock = threading.Lock()

    def chunker(self, tokens: int | None = None, overlap: int | None = None) -> TokenChunker:
        with self._lock:
            if self._chunk_tokenizer is None:
                self._chunk_tokenizer = from_file(self._model_dir)
        size, lap = limits_for(self.max_tokens, self.special_tokens, tokens, overlap)
        return TokenChunker(self._chunk_tokenizer, size, lap)

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        """Unit-length float32 vectors, one row per text."""
        import numpy as np

        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        rows = []
        # One batch at a time, as with torch: the runtime spreads a batch over the cores.
        with self._lock:
            for start in range(0, len(texts), batch_size):
                encoded = self._model_tokenizer.encode_batch(texts[start : start + batch_size])
                ids = np.array([e.ids for e in encoded], dtype=np.int64)
                mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
                feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": ids * 0}
                rows.append(self._session.run(None, feed)[0])
        return np.vstack(rows).astype(np.float32, copy=False)


def exportable(model: Any) -> str:
    """Why this sentence-transformers model cannot be exported as ours is, or ""."""
    kinds = [type(module).__name__ for module in model]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"its modules are {' + '.join(kinds)}, not a transformer with pooling"
    if getattr(model[1], "pooling_mode", None) != "mean":
        return "it does not pool by the mean"
    return ""


def export(embedder: Any, dest: Path) -> None:
    """Export a :class:`~ingestq.embed.local.SentenceTransformerEmbedder` to ``dest``.

    Written to a temporary directory and renamed, so a reader never sees half
    an export; checked against PyTorch before it is kept.
    """
    import torch

    if problem := exportable(embedder.model):
        raise ConfigError(f"model {embedder.name!r} cannot be exported to ONNX: {problem}")
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = dest.with_name(f".{dest.name}.{os.getpid()}")
    staging.mkdir(mode=0o700, exist_ok=True)
    try:
        transformer = embedder.model[0].auto_model.eval()
        with _eager_attention(transformer):
            _trace(embedder, _Pooled(transformer, torch), staging / FILE, torch)
        _fuse(transformer.config, staging / FILE)
        _optimise(staging / FILE)
        _check(embedder, staging)
        try:
            os.replace(staging, dest)
        except OSError:
            if not (dest / FILE).exists():
                raise
            # Another process exported the same model meanwhile: theirs is as good.
    finally:
        if staging.exists():
            for path in staging.iterdir():
                path.unlink()
            staging.rmdir()


def _trace(embedder: Any, graph: Any, path: Path, torch: Any) -> None:
    """Write the graph of ``graph`` (a torch module) to ``path``, with dynamic shapes."""
    sample = embedder.tokenizer(PROBES[:2], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "tokens"} for name in names} | {"embedding": {0: "batch"}}
    # The tracer warns about every shape-dependent branch of the model; they
    # are checked by comparing the export with PyTorch afterwards, not by reading.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            tuple(sample[name] for name in names),
            str(path),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed
        )


@contextmanager
def _eager_attention(transformer: Any) -> Iterator[None]:
    """Trace attention as plain matrix products, the pattern ONNX Runtime's fusion knows.

    PyTorch's fused kernel (``sdpa``) exports as a graph the fusion does not
    recognise, and unfused attention ran at half the speed on the CPU.
    """
    before = getattr(transformer.config, "_attn_implementation", None)
    setter = getattr(transformer, "set_attn_implementation", None)
    if before is None or setter is None:
        yield  # an older transformers: it traces eagerly anyway
        return
    setter("eager")
    try:
        yield
    finally:
        setter(before)


def _fuse(config: Any, path: Path) -> None:
    """Fuse a BERT graph's attention, GELU and layer norms into ONNX Runtime's operators.

    Measured on this project's 2 cores, batches of 64 chunks of about 220 word
    pieces: 1.37x the speed of the graph ONNX Runtime optimises alone, with
    vectors within 2e-7 of it. Other architectures keep the plain graph, and so
    does a fusion that fails: it is a speed-up, not a need. :func:`_check`
    compares either with PyTorch.
    """
    if getattr(config, "model_type", "") != "bert":
        return
    fused = path.with_name(f"fused-{path.name}")
    # Its modules log every fusion under their bare names ("fusion_base", ...) and
    # warn that symbolic shape inference, which only a GPU graph needs, is off.
    logging.disable(logging.WARNING)
    try:
        from onnxruntime.transformers import optimizer  # uses the onnx package, as export does

        optimizer.optimize_model(
            str(path),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=0,  # our fusions only; ONNX Runtime's own pass follows (_optimise)
            use_gpu=False,
        ).save_model_to_file(str(fused))
    except Exception as exc:
        fused.unlink(missing_ok=True)
        logging.disable(logging.NOTSET)
        log.warning("kept the unfused ONNX graph: fusing it failed (%s)", exc)
        return
    finally:
        logging.disable(logging.NOTSET)
    os.replace(fused, path)


def _optimise(path: Path) -> None:
    """Rewrite the graph at path as ONNX Runtime optimises it, so loads can skip that.

    The extended level is the highest whose result runs on any CPU (the level
    above adds layout changes for this CPU, and exports may be shared by hosts).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    optimised = path.with_name(f"optimised-{path.name}")
    options.optimized_model_filepath = str(optimised)
    onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    os.replace(optimised, path)


def _Pooled(transformer: Any, torch: Any) -> Any:
    """The transformer with mean pooling and normalisation, as one torch module."""

    class Pooled(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Pooled().eval()


def _check(embedder: Any, exported: Path) -> None:
    from ingestq.embed.local import model_path

    onnx = OnnxEmbedder(embedder.name, Path(model_path(embedder.name)), exported)
    agreement = float((onnx.encode(PROBES) * embedder.encode(PROBES)).sum(axis=1).min())
    if agreement < AGREEMENT:
        raise ConfigError(
            f"the ONNX export of {embedder.name!r} disagrees with PyTorch"
            f" (cosine {agreement:.5f} < {AGREEMENT}); it was not kept"
        )
