"""Search: the torch-free query path, the three modes, identifiers as typed, and a
lexical index that always holds exactly what the vector store holds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    FOUR_PAGES,
    GEOTOPO,
    GOOGLE_DOC,
    MULTICOLUMN,
    TRIVIAL,
    corpus,
    iq,
    run_burst,
    run_cli,
    state,
    store_records,
)
from ingestq.config import load_settings
from ingestq.embed import onnx
from ingestq.embed.local import model_path
from ingestq.readers.pdf import open_pdf
from ingestq.state import lexical
from webserver import Server

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")

ENV = {"INGESTQ_ALLOW_PRIVATE_NETWORKS": "1", "INGESTQ_HOST_DELAY": "0"}

QUERIES = [
    "how does a blind text help you judge a font?",
    "Errors should never pass silently",
    "countries of the European Union with their capitals",
    "topologische Räume und stetige Abbildungen",
    "what is a homeomorphism",
    "two column layout of an article",
    "simplicial complex",
    "Lorem ipsum dolor sit amet",
    "the Zen of Python",
    "Mannigfaltigkeit Dimension",
]


@pytest.fixture(scope="module")
def exported(embedder: Any, tmp_path_factory: pytest.TempPathFactory) -> onnx.OnnxEmbedder:
    dest = tmp_path_factory.mktemp("export") / "all-MiniLM-L6-v2"
    onnx.export(embedder, dest)
    return onnx.OnnxEmbedder(embedder.name, Path(model_path(embedder.name)), dest)


def test_embed_threads_caps_the_onnx_session(exported: onnx.OnnxEmbedder) -> None:
    capped = onnx.OnnxEmbedder(exported.name, exported._model_dir, exported.exported, 1)
    assert capped._session.get_session_options().intra_op_num_threads == 1
    free = exported._session.get_session_options().intra_op_num_threads
    assert free == 0, "by default the runtime picks (every core)"
    text = ["the same vector either way"]
    assert (capped.encode(text) == exported.encode(text)).all()


def corpus_chunks(embedder: Any) -> list[str]:
    chunker = embedder.chunker()
    texts = []
    for name in (FOUR_PAGES, MULTICOLUMN, GOOGLE_DOC, TRIVIAL, GEOTOPO):
        texts += [c.text for c in chunker.chunks(open_pdf(corpus(name)).pages())]
    return texts[:250]


def test_onnx_vectors_match_pytorch(embedder: Any, exported: onnx.OnnxEmbedder) -> None:
    chunks = corpus_chunks(embedder)
    torch_vectors, onnx_vectors = embedder.encode(chunks), exported.encode(chunks)
    assert float((torch_vectors * onnx_vectors).sum(axis=1).min()) >= 0.9999
    for query in QUERIES:
        by_torch = (torch_vectors @ embedder.encode([query])[0]).argsort()[::-1][:10]
        by_onnx = (onnx_vectors @ exported.encode([query])[0]).argsort()[::-1][:10]
        assert list(by_torch) == list(by_onnx), query


def test_the_export_runs_on_fused_operators_and_leaves_pytorch_as_it_was(
    embedder: Any, exported: onnx.OnnxEmbedder
) -> None:
    import onnx as onnx_format

    graph = onnx_format.load(str(exported.exported / onnx.FILE), load_external_data=False).graph
    ops = [node.op_type for node in graph.node]
    # MiniLM has 6 layers: one fused attention each, and the rest of BERT's fusions.
    assert ops.count("Attention") == 6, sorted(set(ops))
    assert ops.count("SkipLayerNormalization") == 12
    assert "EmbedLayerNormalization" in ops and "BiasGelu" in ops
    # The export traced eager attention; the PyTorch model is handed back unchanged.
    assert embedder.model[0].auto_model.config._attn_implementation == "sdpa"


def test_a_fusion_that_fails_keeps_the_plain_graph(
    embedder: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import onnx as onnx_format
    from onnxruntime.transformers import optimizer

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no fusion today")

    monkeypatch.setattr(optimizer, "optimize_model", broken)
    dest = tmp_path / "export"
    with caplog.at_level("WARNING", logger="ingestq.embed.onnx"):
        onnx.export(embedder, dest)
    assert "kept the unfused ONNX graph: fusing it failed (no fusion today)" in caplog.text
    graph = onnx_format.load(str(dest / onnx.FILE), load_external_data=False).graph
    assert "Attention" not in [node.op_type for node in graph.node]
    plain = onnx.OnnxEmbedder(embedder.name, Path(model_path(embedder.name)), dest)
    texts = corpus_chunks(embedder)[:20]
    assert float((plain.encode(texts) * embedder.encode(texts)).sum(axis=1).min()) >= 0.9999
    assert sorted(p.name for p in dest.iterdir()) == [onnx.FILE]  # no fused copy left over


def test_onnx_chunks_exactly_as_pytorch_does(embedder: Any, exported: onnx.OnnxEmbedder) -> None:
    pages = list(open_pdf(corpus(GEOTOPO)).pages())[:20]
    mine = [(c.text, c.tokens) for c in exported.chunker().chunks(pages)]
    assert mine == [(c.text, c.tokens) for c in embedder.chunker().chunks(pages)]
    assert (exported.max_tokens, exported.dimension) == (embedder.max_tokens, embedder.dimension)


def scrape_and_burst(server: Server, *paths: str, extra: tuple[str, ...] = ()) -> list[str]:
    urls = [server.url(p) for p in paths]
    submitted = json.loads(iq("scrape", *urls, *extra, "--json", env=ENV, check=True).stdout)
    assert iq("worker", "--burst", env=ENV).returncode == 0
    return [s["id"] for s in submitted]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("json.dumps()", "Serialise obj to a JSON formatted str"),
        ("os.O_PATH", "obtain a descriptor that refers to a location"),
        ("--chunk-tokens", "Size of each piece of a document in model tokens"),
        ("RFC 5322", "parsed as RFC 5322 describes them"),
    ],
)
def test_identifiers_are_found_as_typed(server: Server, query: str, expected: str) -> None:
    scrape_and_burst(server, "/docs/reference.html", "/docs/install.html")
    for mode in ("lexical", "hybrid"):
        # `--` first: a query may start with a dash, as a flag does.
        args = ("-k", "1", "--mode", mode, "--json", "--", query)
        [top] = json.loads(iq("search", *args).stdout)
        assert expected in top["text"], (mode, top["text"])
        assert "lexical" in top["rankers"]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("json.dumps()", True),
        ("os.O_PATH RFC 5322", True),
        ("--chunk-tokens", True),
        ("how does json.dumps indent", False),
        ("Context", False),
        ("PEP 8 style", False),
    ],
)
def test_a_query_of_names_only_is_told_apart(query: str, names: bool) -> None:
    assert lexical.names_only(query) is names


def test_fusion_weighs_the_lexical_ranking_up_for_names() -> None:
    from ingestq.ops.search import Hit, fuse

    def ranking(name: str, ids: str) -> list[Hit]:
        return [
            Hit(rank, 0.0, "s", None, None, "j", chunk, chunk, {name: {"rank": rank}})
            for rank, chunk in enumerate(ids, start=1)
        ]

    rankings = {"vector": ranking("vector", "abc"), "lexical": ranking("lexical", "cab")}
    assert [h.chunk_id for h in fuse(rankings, 3)] == ["a", "c", "b"]
    weighted = fuse(rankings, 3, {"lexical": 10.0})
    assert [h.chunk_id for h in weighted] == ["c", "a", "b"]
    assert weighted[0].rankers == {"vector": {"rank": 3}, "lexical": {"rank": 1}}


def test_search_json_has_page_section_snippet_and_rankers(server: Server) -> None:
    scrape_and_burst(server, "/docs/reference.html", "/docs/install.html", "/docs/manual.pdf")
    hits = json.loads(iq("search", "uninstalling a widget and its cache", "--json").stdout)
    assert hits[0]["section"] == "Uninstalling"
    assert hits[0]["rankers"].keys() <= {"vector", "lexical"} and hits[0]["rankers"]
    assert 0 < len(hits[0]["snippet"]) <= 240 and "\n" not in hits[0]["snippet"]
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    pdf = json.loads(iq("search", "blind text about fonts", "--json").stdout)
    assert any(h["page"] and h["source"].endswith("manual.pdf") for h in pdf)
    vector = json.loads(iq("search", "blind text", "--mode", "vector", "--json").stdout)
    assert all(set(h["rankers"]) == {"vector"} for h in vector)
    assert vector[0]["score"] >= vector[-1]["score"]
    bad = iq("search", "x", "--mode", "psychic")
    assert bad.returncode == 2 and "--mode 'psychic'" in bad.stderr


def test_queries_from_standard_input_are_answered_one_json_line_each(server: Server) -> None:
    scrape_and_burst(server, "/docs/reference.html")
    queries = "json.dumps\n\nthe colour of a widget\nos.O_PATH\n"
    proc = subprocess.run(
        [sys.executable, "-m", "ingestq", "search", "-", "-k", "2"],
        input=queries, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["query"] for line in lines] == [
        "json.dumps",
        "the colour of a widget",
        "os.O_PATH",
    ]
    assert all(1 <= len(line["results"]) <= 2 for line in lines)
    assert "The colour of a widget follows the theme" in lines[1]["results"][0]["text"]


def test_a_cold_search_never_imports_torch(server: Server) -> None:
    scrape_and_burst(server, "/docs/reference.html")  # the worker exported the model
    code = (
        "import sys\nfrom ingestq.cli import main\n"
        "try:\n    main(['search', 'json.dumps', '-k', '1'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('torch', 'sentence_transformers', 'transformers')"
        " if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_without_an_export_search_uses_pytorch_and_makes_one(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    scrape_and_burst(server, "/docs/reference.html")
    monkeypatch.setenv("INGESTQ_MODELS_DIR", str(tmp_path / "no-export-yet"))
    first = run_cli("search", "json.dumps", "--json", "-k", "1")
    assert first.returncode == 0 and "made an ONNX copy" in first.stderr
    assert "Serialise obj" in json.loads(first.stdout)[0]["text"]
    again = run_cli("search", "json.dumps", "-k", "1")
    assert again.returncode == 0 and again.stderr == "", "said once"
    assert list((tmp_path / "no-export-yet").glob("*/model.onnx"))


def lexical_matches_store(collection: str = "default") -> None:
    in_store = {r["id"] for r in store_records(collection=collection)}
    assert lexical.chunk_ids(state(), collection) == in_store


def test_the_lexical_index_stays_exact(embedder: Any, tmp_path: Path) -> None:
    settings = load_settings()
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in (TRIVIAL, FOUR_PAGES, MULTICOLUMN):
        shutil.copy(corpus(name), docs / Path(name).name)
    run_cli("add", str(docs), "--sync", check=True)
    run_burst(embedder, settings)
    lexical_matches_store()
    # Re-ingest a changed file: the old version's chunks go from both indexes.
    shutil.copy(corpus(GOOGLE_DOC), docs / Path(MULTICOLUMN).name)
    run_cli("add", str(docs), "--sync", check=True)
    run_burst(embedder, settings)
    lexical_matches_store()
    # Sync after a deletion: a remove job.
    (docs / Path(TRIVIAL).name).unlink()
    run_cli("add", str(docs), "--sync", check=True)
    run_burst(embedder, settings)
    lexical_matches_store()
    # remove, and prune (which keeps chunks: it prunes history and copies).
    jobs = json.loads(run_cli("status", "--json", "--state", "completed", check=True).stdout)
    run_cli("remove", jobs[0]["id"], check=True)
    lexical_matches_store()
    run_cli("prune", "--older-than", "0s", check=True)
    lexical_matches_store()
    assert lexical.count(state()) > 0


def test_a_worker_mends_a_lexical_index_that_fell_behind(embedder: Any) -> None:
    settings = load_settings()
    run_cli("add", str(corpus(FOUR_PAGES)), check=True)
    run_burst(embedder, settings)
    db = state()
    if db.dialect == "sqlite":  # PostgreSQL keeps the terms in the chunks table itself
        db.execute("DELETE FROM chunks_fts")
    db.execute("DELETE FROM chunks")  # as a home from before the lexical index
    run_cli("add", str(corpus(TRIVIAL)), check=True)
    run_burst(embedder, settings)
    lexical_matches_store()
