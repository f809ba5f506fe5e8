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
            f"  baseline: encode the same chunks ({c.get('batch', 64)} a batch, sentence-tr.)",
            f"{c['encode_only_s']:.2f} s",
            f"ingestq at {c['speed_vs_encode_only']:.2f}x its speed (goal >= 0.95x); "
            "round by round "
            + ", ".join(f"{x:.2f}x" for x in c.get("speed_vs_encode_only_rounds", [])),
        ),
        (
            "  baseline: encode them on the worker's ONNX export",
            f"{c['runtime_encode_only_s']:.2f} s",
            f"ingestq at {c['speed_vs_runtime_encode_only']:.2f}x its speed",
        ),
        *(
            [
                (
                    f"  baseline: sentence-tr., {c['old_batch']} a batch (the worker's before)",
                    f"{c['old_batch_encode_s']:.2f} s",
                    f"ingestq at {c['speed_vs_old_batch_encode']:.2f}x its speed",
                )
            ]
            if "old_batch" in c
            else []
        ),
        *(
            [
                (
                    "  baseline: sentence-tr., its default batch (32)",
                    f"{c['default_encode_s']:.2f} s",
                    f"ingestq at {c['speed_vs_default_encode']:.2f}x its speed",
                )
            ]
            if "default_encode_s" in c
            else []
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
        (
            "  a first start (exports the model to ONNX)",
            f"{m.get('first_start_mb', 0):.0f} MB",
            f"{m['small_pages']}-page PDF; later starts load the export",
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
        if pg := r.get("postgres"):
            modes = ("vector", "lexical", "hybrid")
            same = all(
                pg[kind][f"{m}_{lv}"] == k[f"{m}_{lv}"] for m in modes for lv in ("page", "chunk")
            )
            found = ", ".join(f"{m} {pg[kind][f'{m}_chunk']['mrr@10']:.3f}" for m in modes)
            rows.append(
                (
                    "  the same on PostgreSQL",
                    "identical" if same else "differs",
                    f"chunk MRR@10 {found}",
                )
            )
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


def _scaleout(s: dict[str, Any]) -> list[Row]:
    span, wall = s["span_s"], s["wall_s"]
    rows = [
        (
            f"12 corpus on servers, one worker ({s['completed']}/{s['files']} PDFs, "
            f"{s['chunks']} chunks)",
            f"{span['servers']:.2f} s",
            f"embedded {span['embedded']:.2f} s -> overhead {s['overhead']:+.1%} "
            f"(goal <= {s['goal_overhead']:.0%}); add to last job {wall['servers']:.2f} s "
            f"against {wall['embedded']:.2f} s",
        ),
        (
            "  the same from the jobs' stage timings",
            f"{s['stage_overhead']:+.1%}",
            "extra seconds outside embedding (parsing, indexing) over the embedded jobs' time",
        ),
        (
            "13 two workers on servers",
            f"{span['servers_x2']:.2f} s",
            f"{s['two_workers_speedup']:.2f}x the speed of one (add to last job "
            f"{s['two_workers_wall_speedup']:.2f}x); {s['cpus']} cores",
        ),
    ]
    if "servers_x2_split" in span:
        rows.append(
            (
                "   two workers, INGESTQ_EMBED_THREADS split",
                f"{span['servers_x2_split']:.2f} s",
                f"{s['two_split_workers_speedup']:.2f}x the speed of one",
            )
        )
    m = s["model"]
    job, probe = m["per_job"], m["probe"]
    ms = 1000
    rows += [
        (
            "14 per job on servers: PostgreSQL commits",
            f"{job['pg_commits']:.1f}",
            f"{job['pg_transactions']:.1f} transactions, {job['pg_rows_written']:.1f} rows "
            f"written, {job['pg_active_ms']:.1f} ms in statements",
        ),
        (
            "  the writer lock held, per job",
            f"{job['pg_lock_typical_s'] * ms:.1f} ms",
            f"at the median transaction (observed {job['pg_lock_held_s'] * ms:.1f} ms); a "
            f"durable one-row commit {probe['durable_commit_s'] * ms:.2f} ms, not durable "
            f"{probe['async_commit_s'] * ms:.2f} ms, a round trip "
            f"{probe['round_trip_s'] * ms:.2f} ms",
        ),
        ("  Redis commands", f"{job['redis_commands']:.1f}", "add and worker"),
        (
            "  Chroma requests",
            f"{job['chroma_requests']:.1f}",
            f"{job['chroma_writes']:.1f} writes; {job['chroma_typical_s'] * ms:.1f} ms at the "
            f"median (observed {job['chroma_s'] * ms:.1f} ms); server CPU "
            f"{job['chroma_cpu_s'] * ms:.1f} ms",
        ),
    ]
    idle = m["idle_per_worker_s"]
    rows.append(
        (
            "  an idle worker, per second",
            f"{idle['pg_statements']:.1f}",
            f"PostgreSQL statements; Redis {idle['redis_commands']:.1f} commands; "
            f"Chroma {idle['chroma_requests']:.1f} requests",
        )
    )
    for name, c in m["ceilings"].items():
        w = c["workers"]
        rows.append(
            (
                f"  workers one server of each feeds, {name}",
                f"{w[c['bottleneck']]:.1f}",
                f"{c['chunks_per_s']:.0f} chunks/s a worker; PostgreSQL lock {w['pg_lock']:.1f}, "
                f"a PostgreSQL core {w['pg_core']:.1f}, Redis {w['redis']:.0f}, "
                f"Chroma {w['chroma']:.1f}",
            )
        )
    return rows


def _api(a: dict[str, Any]) -> list[Row]:
    sub, poll, mem = a["submit"], a["polling"], a["memory"]
    health = sub["healthz"]
    rows: list[Row] = []
    one = a["submit_one_process"]["fresh"]
    rows.append(
        (
            "15 POST /v1/documents 1 MB, one serve process, new content",
            f"{one['p99_ms']:.0f} ms",
            f"p99; p50 {one['p50_ms']:.0f} ms; server CPU {one['server_cpu_ms']:.1f} ms (baseline)",
        )
    )
    for kind, label in (("fresh", "new content"), ("duplicate", "a duplicate")):
        s = sub[kind]
        rows.append(
            (
                f"15 POST /v1/documents 1 MB, {a['submit_clients']} clients, "
                f"--workers {a['serve_workers']}, {label}",
                f"{s['p99_ms']:.0f} ms",
                f"p99; p50 {s['p50_ms']:.0f} ms; server CPU {s['server_cpu_ms']:.1f} ms a "
                f"request, the clients' {s.get('client_cpu_ms', 0):.1f} ms, "
                f"{s.get('per_s', 0):.0f}/s; /healthz p99 {health['p99_ms']:.0f} ms, "
                f"p50 {health['p50_ms']:.0f} ms (goal p99 <= {a['goal_submit_p99_ms']} ms)",
            )
        )
    phases = (
        ("busy_plain", "a worker embedding"),
        ("busy_nice", "a worker embedding under nice -n 10"),
        ("idle", "no worker"),
    )
    for phase, label in phases:
        p = poll[phase]
        st, hz = p["status"], p["healthz"]
        rows.append(
            (
                f"16 GET /v1/jobs[/id] at {a['polling_rate']}/s, {label}",
                f"{st['p99_ms']:.0f} ms",
                f"p99; p50 {st['p50_ms']:.0f} ms; one job p99 {p['job']['p99_ms']:.0f} ms, the "
                f"list {p['list']['p99_ms']:.0f} ms; server CPU {p['server_cpu_ms']:.1f} ms a "
                f"request; /healthz p99 {hz['p99_ms']:.0f} ms "
                f"(goal p99 <= {a['goal_status_p99_ms']} ms)",
            )
        )
    rows += [
        ("17 serve RSS, idle", f"{mem['idle_mb']:.0f} MB", "baseline"),
        (
            f"  after each of {mem['uploads']} uploads of {mem['upload_mb']} MB",
            f"{mem['last_mb']:.0f} MB",
            f"last; first {mem['first_mb']:.0f} MB, max {mem['max_mb']:.0f} MB, slope "
            f"{mem['slope_kb_per_upload']:+.0f} KB an upload",
        ),
    ]
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
    if so := results.get("scaleout"):
        rows += _scaleout(so)
    if co := results.get("chromaopen"):
        from chromaopen import rows as chromaopen_rows

        rows += chromaopen_rows(co)
    if big := results.get("bigstore"):
        from bigstore import rows as bigstore_rows

        rows += bigstore_rows(big)
    if api := results.get("api"):
        rows += _api(api)
    if sy := results.get("sync"):
        from syncbench import rows as sync_rows

        rows += sync_rows(sy)
    if sd := results.get("statedb"):
        from statedb import rows as statedb_rows

        rows += statedb_rows(sd)
    if dv := results.get("device"):
        from device import rows as device_rows

        rows += device_rows(dv)
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9}  {note}")
