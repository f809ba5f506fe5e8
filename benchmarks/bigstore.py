"""A big store: search latency at 100,000 and 1,000,000 chunks in one collection.

The store is filled the way a worker fills it, through ingestq's own
:class:`~ingestq.pipeline.chunks.ChunkIndex` (the embedded Chroma collection and the
lexical index in the state database, in batches of 5,000), with synthetic unit
vectors and texts (bigdata.py): the model is not needed to fill it. Then, per size:

- fill: wall time and chunks/s; size on disk of ``chroma/`` and ``state.db``;
- recall@10 of the store's query (``ChromaStore.query``, the store layer: no public
  call takes a query vector) against exact search (numpy, all vectors) on sampled
  query vectors, at ``k=10`` and as the first 10 of the ``k=100`` that hybrid reads;
- ``ingestq search "…"``: a new process each time, wall clock, hybrid (the default)
  and ``--mode vector``; real query texts, embedded by the packaged model (their
  neighbours mean nothing here, their cost is real);
- ``ingestq.search(settings, "…")``, the library call, in one process (its first
  call, which loads the index, reported apart), and a warm ``Searcher`` per query.

Latencies are p50 and p99 of each round of queries, the median over ``runs``
rounds. Everything lives under a temporary directory, deleted at the end.

    .venv/bin/python benchmarks/bigstore.py 100000 1000000 --runs 3
    .venv/bin/python benchmarks/run.py --only bigstore     # the same two sizes
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bigdata
from common import IQ, fresh_env

SIZES = (100_000, 1_000_000)
SMOKE_SIZES = (5_000,)
BATCH = 5_000
#: The baseline: the same searches, interleaved, on a store this small.
BASELINE = 1_000
COLLECTION = "default"


def bench_bigstore(runs: int, sizes: tuple[int, ...] = SIZES, smoke: bool = False) -> Any:
    """Every figure for each size in ``sizes``, and for the baseline store."""
    out: dict[str, Any] = {"runs": runs, "baseline_chunks": BASELINE, "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"  # the ONNX export, made once for every size
        base = _home(Path(tmp), BASELINE, models)
        _fill(base[0], bigdata.vectors(BASELINE))
        subprocess.run([IQ, "search", "warm up"], env=base[0], check=True, capture_output=True)
        for n in sizes:
            env, home = _home(Path(tmp), n, models)
            out["sizes"][str(n)] = _one_size(env, home, base[0], n, runs, smoke)
            subprocess.run(["rm", "-rf", str(home)], check=True)
    return out


def _home(tmp: Path, n: int, models: Path) -> tuple[dict[str, str], Path]:
    home = tmp / f"home-{n}"
    return fresh_env(home) | {"INGESTQ_MODELS_DIR": str(models)}, home


def _one_size(
    env: dict[str, str], home: Path, base: dict[str, str], n: int, runs: int, smoke: bool
) -> dict[str, Any]:
    print(f"bigstore: filling {n:,} chunks ...", file=sys.stderr, flush=True)
    stored = bigdata.vectors(n)
    result: dict[str, Any] = {"chunks": n}
    result |= _fill(env, stored)
    result["chroma_bytes"] = bigdata.du(home / "chroma")
    result["state_bytes"] = bigdata.du(home) - result["chroma_bytes"]
    print(f"bigstore: {n:,} filled in {result['fill_s']:.0f} s", file=sys.stderr, flush=True)
    result["recall"] = _recall(env, stored, 50 if smoke else 200)
    del stored
    per_round = (4, 6) if smoke else (10, 20)
    for mode in ("hybrid", "vector"):
        result[f"cli_{mode}"] = _rounds(runs, lambda m=mode: _cli((env, base), per_round[0], m))
        result[f"library_{mode}"] = _library((env, base), runs, per_round[1], mode)
    result["cli_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


@contextmanager
def _environ(env: dict[str, str]) -> Iterator[Any]:
    """This process's environment set to ``env``, and its settings."""
    from ingestq.config import load_settings

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _fill(env: dict[str, str], stored: np.ndarray) -> dict[str, Any]:
    from ingestq.pipeline.chunks import ChunkIndex
    from ingestq.state import open_state
    from ingestq.store import open_vector_store, release_vector_store

    with _environ(env) as settings:
        start = time.perf_counter()
        store = open_vector_store(settings)
        db = open_state(settings)
        store.ensure_collection(COLLECTION, settings.model, bigdata.DIM)
        index = ChunkIndex(store, db)
        for first, texts in zip(
            range(0, len(stored), BATCH), bigdata.texts(len(stored), block=BATCH), strict=True
        ):
            ids = [f"c{i}" for i in range(first, first + len(texts))]
            index.add(COLLECTION, ids, stored[first : first + len(texts)], texts,
                      bigdata.metadata(first, len(texts)))  # fmt: skip
        db.close()
        release_vector_store(settings)  # the next reader loads what is on disk
        fill_s = time.perf_counter() - start
    return {"fill_s": fill_s, "fill_rate": len(stored) / fill_s}


def _recall(env: dict[str, str], stored: np.ndarray, sample: int) -> dict[str, Any]:
    """recall@10 of the store's queries against exact search, and their latency."""
    from ingestq.store import open_vector_store, release_vector_store

    queries = bigdata.query_vectors(stored, sample)
    truth = bigdata.exact_top(stored, queries, 10)
    out: dict[str, Any] = {"sample": sample}
    with _environ(env) as settings:
        store = open_vector_store(settings, create=False)
        store.query(COLLECTION, queries[0], 10)  # loads the index
        for k in (10, 100):
            found, times = [], []
            for q in queries:
                t = time.perf_counter()
                hits = store.query(COLLECTION, q, k)
                times.append(time.perf_counter() - t)
                found.append([int(h.chunk_id[1:]) for h in hits[:10]])
            hit = [len(set(f) & set(t)) / 10 for f, t in zip(found, truth.tolist(), strict=True)]
            out[f"k{k}"] = {"recall_at_10": float(np.mean(hit)), "min": float(np.min(hit)),
                            **_pcts(times)}  # fmt: skip
        release_vector_store(settings)
    out["ef_search"] = _ef_sweep(Path(env["INGESTQ_HOME"]) / "chroma", queries, truth)
    return out


def _ef_sweep(path: Path, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """recall@10 and latency at other ``ef_search`` values than ingestq's (Chroma's
    own collection, modified and put back): what the setting was chosen from.

    A loaded index keeps the ``ef_search`` it was loaded with, and this process holds
    ingestq's client of the store, so each value is set and measured by new
    processes (:func:`_set_ef`, :func:`_probe`).
    """
    from ingestq.store.chroma import EF_SEARCH

    def child(*args: str) -> str:
        command = [sys.executable, __file__, *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "queries.npy", queries)
        np.save(Path(tmp) / "truth.npy", truth)
        try:
            for ef in sorted({100, EF_SEARCH, 2 * EF_SEARCH}):
                child("--set-ef", str(path), str(ef))
                out[str(ef)] = json.loads(child("--probe", str(path), tmp).splitlines()[-1])
        finally:
            child("--set-ef", str(path), str(EF_SEARCH))
    return out


def _set_ef(path: str, ef: int) -> None:
    import chromadb

    coll = chromadb.PersistentClient(path=path).get_collection(COLLECTION)
    coll.modify(configuration={"hnsw": {"ef_search": ef}})


def _probe(path: str, tmp: str) -> None:
    """Print recall@10 and latency of the queries saved in ``tmp`` on the store at ``path``."""
    import chromadb

    queries, truth = np.load(Path(tmp) / "queries.npy"), np.load(Path(tmp) / "truth.npy")
    coll = chromadb.PersistentClient(path=path).get_collection(COLLECTION)
    coll.query(query_embeddings=[queries[0]], n_results=10, include=[])  # loads the index
    hit, times = [], []
    for q, true in zip(queries, truth.tolist(), strict=True):
        t = time.perf_counter()
        ids = coll.query(query_embeddings=[q], n_results=10, include=[])["ids"][0]
        times.append(time.perf_counter() - t)
        hit.append(len({int(i[1:]) for i in ids} & set(true)) / 10)
    print(json.dumps({"recall_at_10": float(np.mean(hit)), "min": float(np.min(hit)),
                      **_pcts(times)}))  # fmt: skip


def _pcts(times: list[float]) -> dict[str, float]:
    return {"p50_s": float(np.percentile(times, 50)), "p99_s": float(np.percentile(times, 99))}


def _rounds(runs: int, one: Any) -> dict[str, float]:
    """The median over ``runs`` rounds of each round's p50 and p99, for the big store
    and for the baseline (``one()`` returns both lists of times)."""
    got = [one() for _ in range(runs)]
    out = {}
    for i, name in enumerate(("", "base_")):
        pcts = [_pcts(g[i]) for g in got]
        for key in ("p50_s", "p99_s"):
            out[name + key] = statistics.median(p[key] for p in pcts)
    out["ratio_p50"] = out["p50_s"] / out["base_p50_s"]
    return out


def _cli(envs: tuple[dict[str, str], ...], count: int, mode: str) -> list[list[float]]:
    """``count`` searches in new processes on each store, interleaved."""
    times: list[list[float]] = [[] for _ in envs]
    for i in range(count):
        query = bigdata.QUERIES[i % len(bigdata.QUERIES)]
        for env, got in zip(envs, times, strict=True):
            start = time.perf_counter()
            subprocess.run([IQ, "search", "--mode", mode, "--", query], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
            got.append(time.perf_counter() - start)
    return times


def _library(envs: tuple[dict[str, str], ...], runs: int, count: int, mode: str) -> Any:
    """``ingestq.search`` call after call in this process on each store, interleaved,
    and a warm ``Searcher`` on the big one."""
    import ingestq
    from ingestq.store import release_vector_store

    queries = bigdata.QUERIES
    settings = []
    for env in envs:
        with _environ(env) as s:
            settings.append(s)
    with _environ(envs[0]):
        start = time.perf_counter()
        ingestq.search(settings[0], queries[0], mode=mode)
        first = time.perf_counter() - start
        ingestq.search(settings[1], queries[0], mode=mode)

        def calls() -> list[list[float]]:
            times: list[list[float]] = [[] for _ in settings]
            for i in range(count):
                for s, got in zip(settings, times, strict=True):
                    t = time.perf_counter()
                    ingestq.search(s, f"{queries[i % len(queries)]} {i}", mode=mode)
                    got.append(time.perf_counter() - t)
            return times

        result: dict[str, Any] = {"first_s": first, **_rounds(runs, calls)}
        with ingestq.Searcher(settings[0], mode=mode) as searcher:
            warm = []
            for i in range(count):
                t = time.perf_counter()
                searcher.search(f"{queries[i % len(queries)]} {i}")
                warm.append(time.perf_counter() - t)
        result["searcher"] = _pcts(warm)
    for s in settings:
        release_vector_store(s)
    return result


def rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The benchmark table's rows for this figure."""
    out = []
    base = f"{result['baseline_chunks']:,} chunks"
    for n, r in result["sizes"].items():
        mb = (r["chroma_bytes"] + r["state_bytes"]) / 1e6
        rec = r["recall"]
        out += [
            (f"bigstore {int(n):,} chunks: fill", f"{r['fill_s']:.0f} s",
             f"{r['fill_rate']:,.0f} chunks/s; on disk {mb:,.0f} MB (chroma "
             f"{r['chroma_bytes'] / 1e6:,.0f}, state.db {r['state_bytes'] / 1e6:,.0f})"),
            ("  recall@10 vs exact, store query", f"{rec['k10']['recall_at_10']:.3f}",
             f"k=100 first 10: {rec['k100']['recall_at_10']:.3f}; {rec['sample']} queries; "
             f"query p50 {_ms(rec['k10']['p50_s'])}, p99 {_ms(rec['k10']['p99_s'])}"),
        ]  # fmt: skip
        for ef, e in (rec.get("ef_search") or {}).items():
            out.append((f"    ef_search {ef}: recall@10", f"{e['recall_at_10']:.3f}",
                        f"least {e['min']:.1f}; query p50 {_ms(e['p50_s'])}, "
                        f"p99 {_ms(e['p99_s'])}"))  # fmt: skip
        for mode in ("hybrid", "vector"):
            cli, lib = r[f"cli_{mode}"], r[f"library_{mode}"]
            out += [
                (f"  ingestq search, {mode}, p50", _ms(cli["p50_s"]),
                 f"p99 {_ms(cli['p99_s'])}; {base}: p50 {_ms(cli['base_p50_s'])}, "
                 f"p99 {_ms(cli['base_p99_s'])} ({cli['ratio_p50']:.2f}x)"),
                (f"  ingestq.search(), {mode}, p50", _ms(lib["p50_s"]),
                 f"p99 {_ms(lib['p99_s'])}; {base}: p50 {_ms(lib['base_p50_s'])}, "
                 f"p99 {_ms(lib['base_p99_s'])} ({lib['ratio_p50']:.2f}x); first call "
                 f"{_ms(lib['first_s'])}; warm Searcher p50 {_ms(lib['searcher']['p50_s'])}, "
                 f"p99 {_ms(lib['searcher']['p99_s'])}"),
            ]  # fmt: skip
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def main() -> None:
    if sys.argv[1:2] == ["--probe"]:  # one ef_search setting, in a process of its own
        _probe(sys.argv[2], sys.argv[3])
        return
    if sys.argv[1:2] == ["--set-ef"]:
        _set_ef(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    result = bench_bigstore(args.runs, tuple(args.sizes))
    for name, value, note in rows(result):
        print(f"{name:<34} {value:>10}   {note}")
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
