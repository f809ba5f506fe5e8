"""ingestq benchmarks: every figure a median, next to a baseline measured in the same run.

    .venv/bin/python benchmarks/run.py              # the full suite, about 25 minutes
    .venv/bin/python benchmarks/run.py --runs 5     # more repetitions
    .venv/bin/python benchmarks/run.py --only corpus
    .venv/bin/python benchmarks/run.py --smoke      # a reduced corpus, for CI: about 2 minutes

Prints a table and writes JSON (benchmarks/results/latest.json unless --out).
The figures, numbered as in the README:

1. ``ingestq add one.pdf`` wall time against ``python -c "import typer"``.
2. ``ingestq status`` with 10,000 jobs in the state database.
3. ``ingestq scrape --from-file`` with 1,000 URLs.
4. Pickup latency: a job's ``queued_at`` to its ``started_at``, idle worker.
5. The shared corpus through ``worker --burst`` against encode-only and a plain
   pypdf + encode loop (corpus.py).
6. A naive all-in-memory pipeline against ingestq (corpus.py).
7. Peak worker RSS, 100 against 1,000 pages, next to the model alone (memory.py).
8. Re-ingesting the unchanged corpus against figure 5 (corpus.py).
9. The corpus parsed in parser processes (the memory-capped sandbox) against
   in-process parsing, same worker, same model (sandbox.py).
10. ``ingestq search`` cold, after its imports and warm, and ``ask`` with an
    instant LLM, against ``import typer`` and ``import chromadb`` (searchspeed.py).
11. Retrieval quality of vector, lexical and hybrid search on three Sphinx
    manuals, entry coverage, and ONNX against PyTorch (retrieval.py).
12. The corpus through one worker with the state, queue and vectors on servers
    (PostgreSQL, Redis, a Chroma server) against the embedded default.
13. Two workers against one, on servers.
14. What a job and an idle worker ask of each server, and how many workers one
    of each can feed (scaleout.py, scaling.py; docs/servers.md).
15. ``POST /v1/documents`` with a 1 MB PDF, 20 concurrent clients, p50 and p99,
    fresh and duplicate content, on ``serve --workers 2``, against one process and
    ``GET /healthz`` under the same load.
16. ``GET /v1/jobs/{id}`` and ``GET /v1/jobs`` polled at 200 requests/s while a
    worker embeds (plainly, and under ``nice -n 10``), against ``/healthz`` in the
    same window.
17. ``ingestq serve``'s RSS across 100 uploads of 50 MB, against its idle RSS
    (api.py).
18. ``add DIR --sync`` over 50,000 small PDFs: the first sync, an unchanged one
    (time, bytes read) and ``--checksum`` (syncbench.py).
19. ``status``, ``stats``, ``watch`` and ``collections`` with 100,000 jobs and
    about a million events, on SQLite and PostgreSQL (statedb.py).
And the PDF text extractors side by side (extractors.py), an int8 backend of the
model against float32 (backends.py), and opening a Chroma server's store against an
embedded one (chromaopen.py), search latency and recall with 100,000 and
1,000,000 synthetic chunks in one collection (bigstore.py), and embedding speed
per device here with fp16 against fp32 (device.py: the CPU, and CUDA or MPS where present).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CORPUS, GEOTOPO, ONE_PDF, ROOT

FIGURES = (
    "add",
    "status",
    "scrape",
    "pickup",
    "corpus",
    "memory",
    "sandbox",
    "search",
    "retrieval",
    "extractors",
    "backends",
    "scaleout",
    "chromaopen",
    "api",
    "sync",
    "statedb",
    "bigstore",
    "device",
)
SMOKE_CORPUS = [
    "001-trivial/minimal-document.pdf",
    "004-pdflatex-4-pages/pdflatex-4-pages.pdf",
    "011-google-doc-document/google-doc-document.pdf",
    "026-latex-multicolumn/multicolumn.pdf",
    "019-grayscale-image/grayscale-image.pdf",
]


def run(figure: str, runs: int, smoke: bool) -> Any:
    # Imported per figure: each module pulls in what it measures, nothing more.
    if figure == "add":
        from latency import bench_add

        return bench_add(3 if smoke else max(runs * 5, 10))
    if figure == "status":
        from status import bench_status

        return bench_status(runs, count=2_000 if smoke else 10_000)
    if figure == "scrape":
        from latency import bench_scrape_enqueue

        return bench_scrape_enqueue(runs)
    if figure == "pickup":
        from latency import bench_pickup

        return bench_pickup(2 if smoke else max(runs * 2, 5))
    if figure == "corpus":
        from corpus import bench_corpus

        return bench_corpus(runs, [CORPUS / f for f in SMOKE_CORPUS] if smoke else None)
    if figure == "memory":
        from memory import bench_memory

        return bench_memory(runs, 20, 100) if smoke else bench_memory(runs)
    if figure == "sandbox":
        from sandbox import bench_sandbox

        return bench_sandbox(runs, [CORPUS / f for f in SMOKE_CORPUS] if smoke else None)
    if figure == "search":
        from searchspeed import bench_search

        return bench_search(2 if smoke else max(runs * 2, 5))
    if figure == "retrieval":
        from retrieval import bench_retrieval

        return bench_retrieval(smoke)
    if figure == "scaleout":
        from scaleout import bench_scaleout

        if smoke:
            return bench_scaleout(1, [CORPUS / f for f in SMOKE_CORPUS], idle_s=5)
        return bench_scaleout(runs)
    if figure == "chromaopen":
        from chromaopen import bench_chromaopen

        return bench_chromaopen(max(runs * 2, 5))
    if figure == "api":
        from api import bench_api

        return bench_api(runs, smoke)
    if figure == "sync":
        from syncbench import bench_sync

        return bench_sync(runs, count=500 if smoke else 50_000)
    if figure == "statedb":
        from statedb import bench_statedb_both

        return bench_statedb_both(runs, 5_000 if smoke else 100_000)
    if figure == "bigstore":
        from bigstore import SMOKE_SIZES, bench_bigstore

        return bench_bigstore(runs, SMOKE_SIZES, smoke=True) if smoke else bench_bigstore(runs)
    if figure == "device":
        from device import bench_device

        return bench_device(runs, smoke)
    if figure == "backends":
        from backends import bench_backends

        return bench_backends(runs)
    from extractors import bench_extractors

    return bench_extractors(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions per figure")
    parser.add_argument("--only", choices=FIGURES, action="append", help="run these figures")
    parser.add_argument("--smoke", action="store_true", help="one quick run on a reduced corpus")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    args = parser.parse_args()
    for path in (GEOTOPO, ONE_PDF):
        if not path.is_file():
            sys.exit(f"corpus file missing: {path}")
    runs = 1 if args.smoke else args.runs
    results: dict[str, Any] = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "smoke": args.smoke,
    }
    for figure in args.only or FIGURES:
        print(f"running {figure} ...", file=sys.stderr, flush=True)
        results[figure] = run(figure, runs, args.smoke)
    from report import report

    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
