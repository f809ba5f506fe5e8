"""Retrieval quality: vector, lexical and hybrid search on real documentation.

The evaluation set is three Sphinx manuals as Debian ships them (click, Jinja,
attrs: retrieval/docs/, with their licences), served on 127.0.0.1 and scraped
by ingestq like any site. Two kinds of queries:

- keyword: every Python object in the manuals' own index (genindex.html), asked
  for by its name as typed (``click.Context.invoke``); the right page is where
  the index points, the right chunk the one that holds the entry's description;
- natural language: 51 questions in retrieval/questions.json, paraphrased by
  hand (not copied from the text), each with its page and a phrase of the passage
  that answers it.

For each mode: recall@1, recall@5 and MRR@10 at page and at chunk level, and a
bootstrap 95% interval for hybrid's MRR@10 minus vector's. Also: how many of the
manuals' documented entries (``dt[id]`` with a description) reach some chunk
(coverage), against trafilatura's reading of the same pages alone (what ingestq
indexed before it walked reference pages itself), and how closely the ONNX model
agrees with PyTorch on these chunks.

    .venv/bin/python benchmarks/run.py --only retrieval
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from common import ROOT

DOCS = ROOT / "benchmarks" / "retrieval" / "docs"
QUESTIONS = ROOT / "benchmarks" / "retrieval" / "questions.json"
#: Pages that are no documentation of their own: indexes, search, history, licence.
SKIP = {"genindex.html", "search.html", "py-modindex.html", "404.html", "changes.html",
        "changelog.html", "license.html"}  # fmt: skip
MODES = ("vector", "lexical", "hybrid")


@dataclass(frozen=True)
class Query:
    kind: str  # "keyword" or "natural"
    text: str
    page: str  # "click/api.html"
    needle: str  # text the answering chunk holds


def norm(text: str) -> str:
    """Text for matching: NFKC and no white space at all.

    White space goes because the page's and the chunk's differ only there
    (a paragraph break in one is a space or nothing in the other).
    """
    return "".join(unicodedata.normalize("NFKC", text).split())


def pages(sets: list[str]) -> list[str]:
    return sorted(
        f"{s}/{p.name}" for s in sets for p in (DOCS / s).glob("*.html") if p.name not in SKIP
    )


def entries(page: str) -> list[tuple[str, str]]:
    """The documented entries of a page: (anchor id, the start of its description)."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser((DOCS / page).read_text())
    for mark in tree.css("a.headerlink"):  # permalinks: "¶", or an icon font's glyph
        mark.decompose()
    found = []
    for dt in tree.css("dl > dt[id]"):
        dd = dt.next
        while dd is not None and dd.tag != "dd":
            dd = dd.next
        description = norm(dd.text(deep=True)) if dd is not None else ""
        if len(description) >= 16:
            found.append((dt.attributes["id"] or "", description[:64]))
    return found


def keyword_queries(sets: list[str], limit: int | None = None) -> list[Query]:
    """Python objects of each manual's index, by name, with their page and description."""
    from selectolax.lexbor import LexborHTMLParser

    queries = []
    for s in sets:
        tree = LexborHTMLParser((DOCS / s / "genindex.html").read_text())
        described: dict[tuple[str, str], str] = {}
        for link in tree.css("table.indextable a[href]"):
            href = link.attributes["href"] or ""
            page, _, anchor = href.partition("#")
            if page in SKIP or not re.fullmatch(r"[A-Za-z_][\w.]*\.\w+", anchor):
                continue
            key = (f"{s}/{page}", anchor)
            if key not in described:
                described[key] = dict(entries(key[0])).get(anchor, "")
        queries += [Query("keyword", anchor, page, needle) for (page, anchor), needle
                    in sorted(described.items()) if needle]  # fmt: skip
    random.Random(5322).shuffle(queries)
    return queries[:limit]


def natural_queries(sets: list[str]) -> list[Query]:
    return [
        Query("natural", q["query"], q["page"], norm(q["needle"]))
        for q in json.loads(QUESTIONS.read_text())
        if q["page"].split("/")[0] in sets
    ]


@contextmanager
def serve() -> Iterator[str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(DOCS)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def ingest(base: str, sets: list[str], embedder: Any) -> Any:
    """Scrape every page into a fresh home with the given model; the settings."""
    from ingestq.config import load_settings
    from ingestq.ops.submit import scrape_urls
    from ingestq.worker.worker import Worker, WorkerOptions

    settings = load_settings()
    scrape_urls(settings, [base + p for p in pages(sets)])
    worker = Worker(settings, embedder)
    worker.run(WorkerOptions(burst=True))
    worker.close()
    return settings


def chunks_by_page(settings: Any, base: str) -> dict[str, list[tuple[str, str]]]:
    """Every stored chunk, as (chunk id, normalised text), by page."""
    from ingestq.store import open_vector_store

    found: dict[str, list[tuple[str, str]]] = {}
    for record in open_vector_store(settings).records("default"):
        page = record["metadata"]["source"].removeprefix(base)
        found.setdefault(page, []).append((record["id"], norm(record["text"])))
    return found


def evaluate(settings: Any, base: str, queries: list[Query], chunks: Any) -> dict[str, Any]:
    """Ranks of the first right page and chunk per query and mode, and the metrics."""
    from ingestq.ops.search import Searcher

    ranks: dict[str, list[tuple[int | None, int | None]]] = {}
    for mode in MODES:
        with Searcher(settings, "default", mode) as searcher:
            ranks[mode] = [_ranks(searcher.search(q.text, 10), q, base, chunks) for q in queries]
    return ranks


def _ranks(hits: list[Any], q: Query, base: str, chunks: Any) -> tuple[int | None, int | None]:
    right = {cid for cid, text in chunks.get(q.page, []) if q.needle in text}
    page = next((h.rank for h in hits if h.source.removeprefix(base) == q.page), None)
    chunk = next((h.rank for h in hits if h.chunk_id in right), None)
    return page, chunk


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "recall@1": sum(1 for r in ranks if r == 1) / n,
        "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
    }


def bootstrap(a: list[int | None], b: list[int | None], rounds: int = 2000) -> list[float]:
    """A 95% interval for the mean MRR@10 of ``a`` minus that of ``b`` (paired)."""
    rr = [(1 / x if x else 0.0) - (1 / y if y else 0.0) for x, y in zip(a, b, strict=True)]
    rng = random.Random(8601)
    means = sorted(statistics.fmean(rng.choices(rr, k=len(rr))) for _ in range(rounds))
    return [means[int(0.025 * rounds)], means[int(0.975 * rounds)]]


def coverage(sets: list[str], chunks: Any) -> dict[str, Any]:
    """The share of documented entries whose description reaches some chunk of its page."""
    total, missing = 0, []
    for page in pages(sets):
        texts = [text for _, text in chunks.get(page, [])]
        for anchor, description in entries(page):
            total += 1
            if not any(description in text for text in texts):
                missing.append(f"{page}#{anchor}")
    return {"entries": total, "covered": 1 - len(missing) / max(total, 1), "missing": missing}


def coverage_trafilatura_alone(sets: list[str]) -> float:
    """The same share in trafilatura's text of each page, without ingestq's region walk."""
    from ingestq.readers.webpage import _extracted_sections  # the "before" of the figure

    total = covered = 0
    for page in pages(sets):
        html = (DOCS / page).read_text()
        text = norm("".join(f"{s.heading or ''}{s.text}" for s in _extracted_sections(html, page)))
        for _, description in entries(page):
            total += 1
            covered += description in text
    return covered / max(total, 1)


def agreement(settings: Any, torch_model: Any, queries: list[Query]) -> dict[str, Any]:
    """ONNX against PyTorch on these chunks: the least cosine, and identical top-10s."""
    import numpy as np

    from ingestq.embed import load_embedder
    from ingestq.store import open_vector_store

    onnx_model = load_embedder(settings)
    texts = [r["text"] for r in open_vector_store(settings).records("default")]
    a, b = torch_model.encode(texts), onnx_model.encode(texts)
    same = 0
    for q in queries:
        top_a = np.argsort(-(a @ torch_model.encode([q.text])[0]))[:10]
        top_b = np.argsort(-(b @ onnx_model.encode([q.text])[0]))[:10]
        same += int(list(top_a) == list(top_b))
    return {"chunks": len(texts), "min_cosine": float((a * b).sum(axis=1).min()),
            "same_top10": same / max(len(queries), 1), "queries": len(queries)}  # fmt: skip


def table(queries: list[Query], ranks: dict[str, Any]) -> dict[str, Any]:
    """Recall and MRR per kind of query, mode and level, and hybrid's gain over vector."""
    found: dict[str, Any] = {}
    for kind in ("keyword", "natural"):
        picked = [i for i, q in enumerate(queries) if q.kind == kind]
        found[kind] = {"queries": len(picked)}
        for mode in MODES:
            for level, at in (("page", 0), ("chunk", 1)):
                values = [ranks[mode][i][at] for i in picked]
                found[kind][f"{mode}_{level}"] = metrics(values)
        chunk_ranks = {m: [ranks[m][i][1] for i in picked] for m in MODES}
        found[kind]["hybrid_minus_vector_chunk_mrr_ci95"] = bootstrap(
            chunk_ranks["hybrid"], chunk_ranks["vector"]
        )
    return found


@contextmanager
def on_postgres(settings: Any) -> Iterator[Any]:
    """The same home with its state moved to a fresh PostgreSQL database by
    ``migrate-home`` (the vectors stay where they are): the settings to search it."""
    import dataclasses
    import secrets

    import psycopg

    from ingestq.ops.migrate import migrate_home

    admin = os.environ.get("INGESTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"iqb_retrieval_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        target = dataclasses.replace(settings, database_url=admin.rsplit("/", 1)[0] + "/" + name)
        migrate_home(settings, target)
        yield target
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def bench_retrieval(smoke: bool = False) -> dict[str, Any]:
    from ingestq.embed import make_embedder

    sets = ["attr"] if smoke else ["click", "jinja2", "attr"]
    queries = keyword_queries(sets, 60 if smoke else None) + natural_queries(sets)
    with tempfile.TemporaryDirectory() as tmp, serve() as base:
        os.environ.update(INGESTQ_HOME=f"{tmp}/home", INGESTQ_MODELS_DIR=f"{tmp}/models",
                          INGESTQ_ALLOW_PRIVATE_NETWORKS="1", INGESTQ_HOST_DELAY="0")  # fmt: skip
        torch_model = make_embedder("all-MiniLM-L6-v2")
        settings = ingest(base, sets, torch_model)
        chunks = chunks_by_page(settings, base)
        ranks = evaluate(settings, base, queries, chunks)
        report: dict[str, Any] = {"sets": sets, "pages": len(pages(sets)),
                                  "chunks": sum(len(c) for c in chunks.values())}  # fmt: skip
        report |= table(queries, ranks)
        with on_postgres(settings) as pg:
            report["postgres"] = table(queries, evaluate(pg, base, queries, chunks))
        report["coverage"] = coverage(sets, chunks)
        report["coverage"]["trafilatura_alone"] = coverage_trafilatura_alone(sets)
        report["onnx_vs_torch"] = agreement(settings, torch_model, queries)
    return report
