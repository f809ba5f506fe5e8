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
        ("  ONNX", "-", b["onnx"]),
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


def report(results: dict[str, Any]) -> None:
    rows = _latency(results)
    if c := results.get("corpus"):
        rows += _corpus(c)
    if m := results.get("memory"):
        rows += _memory(m)
    if sb := results.get("sandbox"):
        rows += _sandbox(sb)
    if e := results.get("extractors"):
        rows += _extractors(e)
    if b := results.get("backends"):
        rows += _backends(b)
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9}  {note}")
