"""Figure 10: how fast ``ingestq search`` answers, cold and warm, and ``ask``'s first token.

A home with the four-page PDF indexed (the worker's first start makes the ONNX
export, as it does for users). Then, interleaved with ``python -c "import
typer"`` as the baseline:

- cold: ``ingestq search "…"``, a whole new process each time, wall clock;
- after the imports: the same search in a process that has already imported
  everything the search path imports, so what is left is opening the state
  database and the store, loading the model's session, embedding and ranking;
- warm: one :class:`~ingestq.ops.search.Searcher` answering query after query;
- ask: ``ingestq ask "…"`` against a local OpenAI-compatible endpoint that
  answers at once (tests/openai_stub.py), so the time is retrieval's, and an
  LLM adds its own.

``python -c "import chromadb"`` is measured too: the vector store's own import,
which any search by meaning pays, is most of a cold search.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import IQ, ONE_PDF, ROOT, fresh_env, wall

QUERY = "how are the pages of this document laid out"
#: The search path's imports, made before the clock starts.
AFTER_IMPORTS = """
import sys, time
import ingestq.cli, ingestq.ops.search, ingestq.store.chroma, ingestq.embed.onnx
import chromadb, onnxruntime, tokenizers, numpy
from ingestq.cli import main
start = time.perf_counter()
try:
    main(["search", sys.argv[1], "-k", "5"])
except SystemExit:
    pass
print(time.perf_counter() - start, file=sys.stderr)
"""


def bench_search(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = fresh_env(Path(tmp) / "home")
        env["INGESTQ_MODELS_DIR"] = str(Path(tmp) / "models")
        subprocess.run([IQ, "add", str(ONE_PDF)], env=env, check=True, capture_output=True)
        subprocess.run([IQ, "worker", "--burst"], env=env, check=True, capture_output=True)
        wall([IQ, "search", QUERY], env)  # the first search after indexing warms the OS cache
        bases, chromas, colds, afters = [], [], [], []
        for _ in range(runs):
            bases.append(wall([sys.executable, "-c", "import typer"], env))
            chromas.append(wall([sys.executable, "-c", "import chromadb"], env))
            colds.append(wall([IQ, "search", QUERY], env))
            afters.append(_after_imports(env))
        result = {
            "import_typer_s": statistics.median(bases),
            "import_chromadb_s": statistics.median(chromas),
            "cold_s": statistics.median(colds),
            "after_imports_s": statistics.median(afters),
            "warm_s": _warm(env, runs * 10),
            "ask_s": _ask(env, runs),
            "goal_cold_s": 1.0,
            "goal_after_imports_s": 0.3,
            "runs": runs,
        }
    result["ratio"] = result["cold_s"] / result["import_typer_s"]
    return result


def _after_imports(env: dict[str, str]) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", AFTER_IMPORTS, QUERY],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(proc.stderr.strip().splitlines()[-1])


def _warm(env: dict[str, str], queries: int) -> float:
    """The median of many queries through one open Searcher, in this process."""
    from ingestq.config import load_settings
    from ingestq.ops.search import Searcher

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with Searcher(load_settings()) as searcher:
            searcher.search(QUERY)  # the model finishes loading
            times = []
            for i in range(queries):
                start = time.perf_counter()
                searcher.search(f"{QUERY} {i}")
                times.append(time.perf_counter() - start)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return statistics.median(times)


def _ask(env: dict[str, str], runs: int) -> float:
    sys.path.insert(0, str(ROOT / "tests"))
    from openai_stub import serve

    with serve() as stub:
        llm = {**env, "OPENAI_BASE_URL": stub.url, "OPENAI_API_KEY": "benchmark",
               "INGESTQ_LLM_MODEL": "stub"}  # fmt: skip
        return statistics.median(wall([IQ, "ask", QUERY], llm) for _ in range(runs))
