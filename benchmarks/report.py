"""The benchmark table: one row per figure, its value, and its baseline or goal."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _latency(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if add := r.get("add"):
        rows.append(
            (
                "1 ingestq add one.pdf",
                _ms(add["add_s"]),
                f"import typer {_ms(add['import_typer_s'])} -> {add['ratio']:.2f}x (goal <= 3x)",
            )
        )
    if st := r.get("status"):
        rows.append(
            (
                f"2 ingestq status, {st['jobs']:,} jobs",
                _ms(st["status_s"]),
                f"--state failed --since 24h {_ms(st['status_failed_24h_s'])}; --json all "
                f"{_ms(st['status_json_all_s'])}; import typer {_ms(st['import_typer_s'])} "
                "(goal <= 500 ms)",
            )
        )
    if scr := r.get("scrape"):
        rows.append(
            ("3 scrape --from-file, 1,000 URLs", f"{scr['scrape_1000_s']:.2f} s", "goal <= 2 s")
        )
    if pick := r.get("pickup"):
        rows.append(
            (
                "4 pickup latency, idle worker",
                _ms(pick["pickup_s"]),
                f"max {_ms(pick['max_s'])} over {pick['runs']} jobs (goal <= 1 s)",
            )
        )
    return rows


def _corpus(c: dict[str, Any]) -> list[Row]:
    return [
        (
            f"5 corpus: {c['completed']}/{c['files']} PDFs, {c['pages']} pages, "
            f"{c['chunks']} chunks",
            f"{c['ingestq_s']:.2f} s",
            f"{c['chunks_per_s']:.1f} chunks/s, {c['pages_per_s']:.1f} pages/s",
        ),
        (
            "  baseline: encode the same chunks",
            f"{c['encode_only_s']:.2f} s",
            f"ingestq at {c['speed_vs_encode_only']:.2f}x its speed",
        ),
        (
            "  baseline: plain pypdf + encode loop",
            f"{c['plain_loop_s']:.2f} s",
            f"ingestq at {c['speed_vs_plain_loop']:.2f}x its speed (goal >= 0.9x)",
        ),
        ("  worker start-up + model load", f"{c['startup_and_load_s']:.2f} s", "excluded above"),
        (
            "6 naive pipeline, same libraries",
            f"{c['naive_s']:.2f} s",
            f"ingestq at {c['speedup_vs_naive']:.2f}x its speed; it cut "
            f"{c['naive_truncated_chunks']} of {c['naive_chunks']} chunks, dropping "
            f"{c['naive_dropped_token_share']:.0%} of the text unembedded",
        ),
        (
            "8 re-ingest of the unchanged corpus",
            f"{c['rerun_s']:.2f} s",
            f"{c['rerun_share']:.1%} of figure 5 (goal <= 5%); "
            f"{c['rerun_embedded']} chunks embedded",
        ),
    ]


def _memory(m: dict[str, Any]) -> list[Row]:
    return [
        ("7 peak RSS: the model alone", f"{m['model_only_mb']:.0f} MB", "baseline"),
        (f"  worker, {m['small_pages']}-page PDF", f"{m['small_mb']:.0f} MB", ""),
        (
            f"  worker, {m['large_pages']}-page PDF",
            f"{m['large_mb']:.0f} MB",
            f"{m['growth']:+.1%} against {m['small_pages']} pages (goal within 20%)",
        ),
    ]


def _extractors(e: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name in ("pypdf", "pypdfium2"):
        x = e[name]
        rows.append(
            (
                f"extract text with {name}: GeoTopo",
                f"{x['geotopo_s']:.2f} s",
                f"corpus {x['corpus_s']:.2f} s; Zen similarity {x['zen_similarity']:.3f}; "
                f"maths symbols {x['geotopo_maths_symbols']}; "
                f"whole hyphenated words {x['whole_words']}",
            )
        )
    return rows


def _backends(b: dict[str, Any]) -> list[Row]:
    return [
        (
            f"model float32, GeoTopo's {b['chunks']} chunks",
            f"{b['float32_s']:.2f} s",
            "baseline",
        ),
        (
            "  int8 (torch dynamic quantization)",
            f"{b['int8_s']:.2f} s",
            f"{b['int8_speedup']:.2f}x faster; cosine to float32 {b['int8_cosine_median']:.3f}; "
            f"top-1 agreement {b['int8_top1_agreement']:.0%}, top-5 {b['int8_top5_overlap']:.0%}",
        ),
        (
            "  ONNX Runtime float32 (ingestq's default)",
            f"{b['onnx_s']:.2f} s",
            f"{b['onnx_speedup']:.2f}x faster; least cosine to PyTorch "
            f"{b['onnx_cosine_min']:.6f}; same top-5 {b['onnx_same_top5']:.0%}",
        ),
    ]


def _sandbox(s: dict[str, Any]) -> list[Row]:
    return [
        (
            f"9 corpus burst, PDFs parsed in parser processes ({s['files']} files)",
            f"{s['sandbox_s']:.2f} s",
            f"in-process {s['in_process_s']:.2f} s -> overhead {s['overhead']:+.1%}"
            f" (goal <= {s['goal_overhead']:.0%})",
        ),
        ("  a parser process's start", f"{s['parser_start_s']:.2f} s", "once per worker thread"),
    ]


def _search(s: dict[str, Any]) -> list[Row]:
    return [
        (
            "10 ingestq search, cold process",
            _ms(s["cold_s"]),
            f"import typer {_ms(s['import_typer_s'])}, import chromadb "
            f"{_ms(s['import_chromadb_s'])} (goal <= {_ms(s['goal_cold_s'])})",
        ),
        (
            "  after the imports",
            _ms(s["after_imports_s"]),
            f"goal <= {_ms(s['goal_after_imports_s'])}",
        ),
        ("  warm, one Searcher", _ms(s["warm_s"]), "per query"),
        ("  ingestq ask, an instant LLM", _ms(s["ask_s"]), "whole answer, cold process"),
    ]


def _retrieval(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for kind in ("keyword", "natural"):
        k = r[kind]
        for mode in ("vector", "lexical", "hybrid"):
            page, chunk = k[f"{mode}_page"], k[f"{mode}_chunk"]
            rows.append(
                (
                    f"11 {kind} ({k['queries']} queries), {mode}",
                    f"{chunk['mrr@10']:.3f}",
                    f"chunk MRR@10; R@1 {chunk['recall@1']:.2f} R@5 {chunk['recall@5']:.2f};"
                    f" page MRR@10 {page['mrr@10']:.3f} R@1 {page['recall@1']:.2f}"
                    f" R@5 {page['recall@5']:.2f}",
                )
            )
        low, high = k["hybrid_minus_vector_chunk_mrr_ci95"]
        rows.append(("  hybrid - vector, chunk MRR@10", "", f"95% CI [{low:+.3f}, {high:+.3f}]"))
    cov, agree = r["coverage"], r["onnx_vs_torch"]
    rows.append(
        (
            f"  entries reaching a chunk ({cov['entries']})",
            f"{cov['covered']:.1%}",
            f"trafilatura alone {cov['trafilatura_alone']:.1%} (goal >= 99.5%)",
        )
    )
    rows.append(
        (
            f"  ONNX vs PyTorch, {agree['chunks']} chunks",
            f"{agree['min_cosine']:.6f}",
            f"least cosine; same top-10 {agree['same_top10']:.0%} of {agree['queries']} queries",
        )
    )
    return rows


def report(results: dict[str, Any]) -> None:
    rows = _latency(results)
    if c := results.get("corpus"):
        rows += _corpus(c)
    if m := results.get("memory"):
        rows += _memory(m)
    if sb := results.get("sandbox"):
        rows += _sandbox(sb)
    if se := results.get("search"):
        rows += _search(se)
    if rt := results.get("retrieval"):
        rows += _retrieval(rt)
    if e := results.get("extractors"):
        rows += _extractors(e)
    if b := results.get("backends"):
        rows += _backends(b)
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9}  {note}")
