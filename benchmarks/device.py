"""Embedding speed per device, and whether fp16 vectors are as good as fp32 ones.

For every device torch sees here (the CPU always; CUDA and MPS when present),
GeoTopo's chunks are embedded by the PyTorch model in fp32 at the device's
default batch (devices.CPU_BATCH on the CPU, devices.GPU_BATCH on a GPU):
chunks per second, median of ``runs``. Then the same model in fp16 on the same
device: its speed, the least cosine between a chunk's fp16 and fp32 vectors,
and whether the topic queries of backends.py get the same top 10 (as a set, and
in the same order). fp16 passes at a least cosine of devices.FP16_AGREEMENT
(0.999) and the same top-10 sets; that is what the fp16 default on CUDA rests on.

On the CPU fp16 runs (torch has half-precision kernels there, slow ones), so
the check is measured here too; it is timed once, not ``runs`` times, as it
takes minutes. The same command on a GPU host measures the GPU beside its CPU.

The CPU's batch: the same chunks, sorted by length as the worker's loop sorts
them, through the ONNX export the worker runs on the CPU, in batches of 1 to 64,
the sizes interleaved in each of ``runs`` rounds; seconds, median over rounds,
and each size against 64. devices.CPU_BATCH is what this found.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from backends import QUERIES
from common import GEOTOPO

TOP = 10
#: Batch sizes the CPU sweep tries.
SWEEP = (1, 2, 4, 8, 16, 32, 64)


def present() -> list[str]:
    """The devices torch sees here, the CPU first."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def bench_device(runs: int, smoke: bool = False) -> dict[str, Any]:
    from ingestq.embed.local import SentenceTransformerEmbedder
    from ingestq.readers.pdf import open_pdf

    measured: dict[str, Any] = {}
    texts: list[str] = []
    for device in present():
        embedder = SentenceTransformerEmbedder(device=device)
        if not texts:
            texts = [c.text for c in embedder.chunker().chunks(open_pdf(GEOTOPO).pages())]
            texts = texts[:16] if smoke else texts
        measured[device] = _measure(embedder, texts, runs)
        if device == "cpu":
            sweep = _cpu_batches(embedder, texts, runs, SWEEP[-2:] if smoke else SWEEP)
    return {"chunks": len(texts), "devices": measured, "runs": runs, "cpu_batches": sweep}


def _cpu_batches(embedder: Any, texts: list[str], runs: int, sizes: tuple[int, ...]) -> Any:
    """Seconds to embed ``texts`` (sorted by length) on the ONNX export, per batch size."""
    from corpus import onnx_runtime

    ordered = sorted(texts, key=len)
    with tempfile.TemporaryDirectory() as tmp:
        runtime = onnx_runtime(embedder, Path(tmp))
        runtime.encode(ordered[:8], 8)  # warm up
        rounds: dict[int, list[float]] = {size: [] for size in sizes}
        for _ in range(runs):
            for size in sizes:
                rounds[size] += _timed(lambda n=size: runtime.encode(ordered, n), 1)[0]
    return {str(size): statistics.median(times) for size, times in rounds.items()}


def _measure(embedder: Any, texts: list[str], runs: int) -> dict[str, Any]:
    """fp32 speed on the embedder's device, then fp16's speed and agreement with it."""
    from ingestq.embed import devices

    device = embedder.device
    batch = devices.CPU_BATCH if device == "cpu" else devices.GPU_BATCH
    times, full = _timed(lambda: embedder.encode(texts, batch), runs)
    queries = embedder.encode(QUERIES, batch)
    half = copy.deepcopy(embedder.model).half()

    def encode16(items: list[str]) -> Any:
        out = half.encode(items, batch_size=batch, normalize_embeddings=True)
        return out.astype("float32")

    times16, vectors16 = _timed(lambda: encode16(texts), 1 if device == "cpu" else runs)
    return {
        "memory": devices.describe(devices.Plan(device, "fp32", batch)),
        "batch": batch,
        "fp32_chunks_s": len(texts) / statistics.median(times),
        "fp16_chunks_s": len(texts) / statistics.median(times16),
        **_agreement(full, queries, vectors16, encode16(QUERIES), devices.FP16_AGREEMENT),
    }


def _timed(work: Any, runs: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - start)
    return times, out


def _agreement(full: Any, queries: Any, half: Any, queries16: Any, least: float) -> dict[str, Any]:
    """fp16 against fp32: least cosine, and top-10 agreement for the topic queries."""
    import numpy as np

    cosine = float((full * half).sum(axis=1).min())
    same_set = same_order = 0
    for i in range(len(QUERIES)):
        a = list(np.argsort(-(full @ queries[i]))[:TOP])
        b = list(np.argsort(-(half @ queries16[i]))[:TOP])
        same_set += int(set(a) == set(b))
        same_order += int(a == b)
    return {
        "fp16_cosine_min": cosine,
        "fp16_same_top10": same_set / len(QUERIES),
        "fp16_same_top10_order": same_order / len(QUERIES),
        "fp16_passes": cosine >= least and same_set == len(QUERIES),
    }


def rows(d: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The figures as report.py prints them: a device's fp32 speed, then fp16 against it."""
    out = []
    base = d["devices"]["cpu"]["fp32_chunks_s"]
    for device, m in d["devices"].items():
        against = "baseline" if device == "cpu" else f"{m['fp32_chunks_s'] / base:.2f}x the CPU"
        out.append(
            (
                f"embed on {device}, fp32, batch {m['batch']}: GeoTopo's {d['chunks']} chunks",
                f"{m['fp32_chunks_s']:.1f}/s",
                f"{against}; {m['memory']}",
            )
        )
        verdict = "passes" if m["fp16_passes"] else "FAILS: fp32 stays the default"
        out.append(
            (
                f"  the same in fp16 on {device}",
                f"{m['fp16_chunks_s']:.1f}/s",
                f"{m['fp16_chunks_s'] / m['fp32_chunks_s']:.2f}x fp32; least cosine "
                f"{m['fp16_cosine_min']:.5f}; same top 10 {m['fp16_same_top10']:.0%} "
                f"(same order {m['fp16_same_top10_order']:.0%}); check {verdict}",
            )
        )
    sweep = d.get("cpu_batches") or {}
    for size, seconds in sweep.items():
        out.append(
            (
                f"  CPU, ONNX export, sorted chunks, {size} a batch",
                f"{seconds:.2f} s",
                "baseline" if size == "64" else f"{seconds / sweep['64']:.2f}x the time of 64",
            )
        )
    return out
