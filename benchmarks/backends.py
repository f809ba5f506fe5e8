"""Other backends of the same model: faster, but as good for retrieval?

* ONNX: sentence-transformers' ``backend="onnx"`` needs ``optimum-onnx``, whose
  newest release (0.1.0) requires transformers < 4.58, while sentence-transformers
  6 requires transformers >= 5: the two cannot be installed together. Not measured.
* int8: torch's dynamic quantization of the Linear layers, offline. Measured
  here: speed on GeoTopo's chunks against the float32 model in the same run,
  and retrieval agreement (cosine of each chunk's two vectors; top-1 and top-5
  agreement for topic queries).
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
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

    from ingestq.embed.local import SentenceTransformerEmbedder as Embedder
    from ingestq.readers.pdf import open_pdf

    embedder = Embedder()
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

    times: dict[str, list[float]] = {"float32": [], "int8": []}
    vectors: dict[str, Any] = {}
    for _ in range(runs):
        for name, model in (("float32", embedder.model), ("int8", int8)):
            start = time.perf_counter()
            vectors[name] = encode(model, texts)
            times[name].append(time.perf_counter() - start)
    a, b = vectors["float32"], vectors["int8"]
    qa, qb = encode(embedder.model, QUERIES), encode(int8, QUERIES)
    top1 = top5 = 0
    for i in range(len(QUERIES)):
        ra, rb = np.argsort(-(a @ qa[i]))[:5], np.argsort(-(b @ qb[i]))[:5]
        top1 += int(ra[0] == rb[0])
        top5 += len(set(ra) & set(rb))
    f32, i8 = statistics.median(times["float32"]), statistics.median(times["int8"])
    return {
        "chunks": len(texts),
        "float32_s": f32,
        "int8_s": i8,
        "int8_speedup": f32 / i8,
        "int8_cosine_median": float(np.median((a * b).sum(axis=1))),
        "int8_top1_agreement": top1 / len(QUERIES),
        "int8_top5_overlap": top5 / (5 * len(QUERIES)),
        "onnx": "not installable: optimum-onnx 0.1.0 needs transformers<4.58, "
        "sentence-transformers 6 needs transformers>=5",
        "runs": runs,
    }
