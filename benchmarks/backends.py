"""Other backends of the same model: faster, but as good for retrieval?

* ONNX Runtime (float32): ingestq's own export (ingestq.embed.onnx), which the
  worker and search use by default. Measured against PyTorch on the same chunks
  in the same run: speed, the least cosine between a chunk's two vectors, and
  top-5 agreement. This figure is what ``INGESTQ_EMBED_BACKEND=auto`` rests on.
* int8: torch's dynamic quantization of the Linear layers, offline. Measured
  here: speed on GeoTopo's chunks against the float32 model in the same run,
  and retrieval agreement (cosine of each chunk's two vectors; top-1 and top-5
  agreement for topic queries). Not used: see docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from common import GEOTOPO

QUERIES = [
    "Kompaktheit topologischer Raum",
    "Fundamentalgruppe Überlagerung",
    "Simplizialkomplex Homologie",
    "Mannigfaltigkeit Karte Atlas",
    "Euklidische Geometrie Axiome",
    "stetige Abbildung Homöomorphismus",
]


def bench_backends(runs: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from ingestq.embed import onnx
    from ingestq.embed.local import SentenceTransformerEmbedder as Embedder
    from ingestq.embed.local import model_path
    from ingestq.readers.pdf import open_pdf

    embedder = Embedder()
    exported = Path(tempfile.mkdtemp()) / "onnx"
    onnx.export(embedder, exported)
    ort = onnx.OnnxEmbedder(embedder.name, Path(model_path(embedder.name)), exported)
    texts = [c.text for c in embedder.chunker().chunks(open_pdf(GEOTOPO).pages())]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao points at torchao; the API still works
        int8 = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(embedder.model), {torch.nn.Linear}, dtype=torch.qint8
        )

    def encode(model: Any, items: list[str]) -> Any:
        return model.encode(
            items, batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )

    times: dict[str, list[float]] = {"float32": [], "int8": [], "onnx": []}
    vectors: dict[str, Any] = {}
    for _ in range(runs):
        for name, model in (("float32", embedder.model), ("int8", int8)):
            start = time.perf_counter()
            vectors[name] = encode(model, texts)
            times[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        vectors["onnx"] = ort.encode(texts)
        times["onnx"].append(time.perf_counter() - start)
    a, b, c = vectors["float32"], vectors["int8"], vectors["onnx"]
    qa, qb, qc = encode(embedder.model, QUERIES), encode(int8, QUERIES), ort.encode(QUERIES)
    top1 = top5 = onnx_top5 = 0
    for i in range(len(QUERIES)):
        ra, rb = np.argsort(-(a @ qa[i]))[:5], np.argsort(-(b @ qb[i]))[:5]
        top1 += int(ra[0] == rb[0])
        top5 += len(set(ra) & set(rb))
        onnx_top5 += int(list(ra) == list(np.argsort(-(c @ qc[i]))[:5]))
    f32, i8 = statistics.median(times["float32"]), statistics.median(times["int8"])
    ort_s = statistics.median(times["onnx"])
    return {
        "chunks": len(texts),
        "float32_s": f32,
        "int8_s": i8,
        "int8_speedup": f32 / i8,
        "int8_cosine_median": float(np.median((a * b).sum(axis=1))),
        "int8_top1_agreement": top1 / len(QUERIES),
        "int8_top5_overlap": top5 / (5 * len(QUERIES)),
        "onnx_s": ort_s,
        "onnx_speedup": f32 / ort_s,
        "onnx_cosine_min": float((a * c).sum(axis=1).min()),
        "onnx_same_top5": onnx_top5 / len(QUERIES),
        "runs": runs,
    }
