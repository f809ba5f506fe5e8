"""``ingestq migrate-home``: an embedded home moved onto servers, nothing embedded again.

A real worker ingests real PDFs on an embedded home; the home is migrated to
the session's PostgreSQL, Redis and Chroma server by the CLI in a process of
its own that cannot import any model runtime; then the servers must answer as
the home did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import FOUR_PAGES, MULTICOLUMN, TRIVIAL, Servers, corpus, iq, run_burst

#: Any of these imported would mean the migration could embed: the fault forbids them.
NO_MODEL = (
    "for name in ('torch', 'sentence_transformers', 'transformers', 'onnxruntime',"
    " 'tokenizers'):\n    sys.modules[name] = None"
)
QUERIES = ["two columns filled with Lorem Ipsum", "pdflatex four pages"]


def snapshot() -> dict[str, Any]:
    """What the configured backends answer: jobs, top hits, vector count, waiting messages."""
    from ingestq.config import load_settings
    from ingestq.queue import open_queue
    from ingestq.store import open_vector_store

    jobs = json.loads(iq("status", "--json", "--limit", "100", check=True).stdout)
    hits = {}
    for query in QUERIES:
        for mode in ("hybrid", "vector"):
            found = json.loads(iq("search", query, "--mode", mode, "-k", "3", "--json").stdout)
            hits[query, mode] = [(h["chunk_id"], h["text"]) for h in found]
    settings = load_settings()
    return {
        "jobs": {j["id"]: (j["state"], j["vector_count"], j["content_hash"]) for j in jobs},
        "hits": hits,
        "vectors": open_vector_store(settings).count("default"),
        "pending": open_queue(settings).pending_job_ids(),
    }


def migrate(cli: Any, *args: str, env: dict[str, str]) -> Any:
    return cli("migrate-home", *args, env=env, fault=NO_MODEL, timeout=300)


def test_a_home_moves_to_servers_without_embedding_again(
    embedder: Any, servers: Servers, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    iq("add", str(corpus(FOUR_PAGES)), str(corpus(MULTICOLUMN)), check=True)
    run_burst(embedder)
    [waiting] = json.loads(iq("add", str(corpus(TRIVIAL)), "--json", check=True).stdout)
    before = snapshot()
    assert before["vectors"] > 0 and before["pending"] == {waiting["id"]}

    target = servers.env(servers.fresh())
    flags = ["--to-database", target["INGESTQ_DATABASE_URL"], "--to-chroma",
             target["INGESTQ_CHROMA_URL"], "--to-queue", target["INGESTQ_QUEUE_URL"]]  # fmt: skip
    names = {k: target[k] for k in ("INGESTQ_QUEUE_NAME", "INGESTQ_CHROMA_DATABASE")}
    first = migrate(cli, *flags, "--json", env=names)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["state"]["jobs"] == {"rows": 3, "copied": 3, "already_there": 0}
    assert report["state"]["chunks"]["copied"] == before["vectors"]
    assert report["vectors"]["default"]["copied"] == before["vectors"]
    blobs = report["blobs"]
    assert blobs["rows"] == 3 and blobs["copied"] == 3, "the blobs moved into PostgreSQL"
    assert report["enqueued"] == 1

    for key, value in target.items():
        monkeypatch.setenv(key, value)
    assert snapshot() == before

    again = migrate(cli, "--json", env={})  # the target from the environment, as a worker reads it
    assert again.returncode == 0, again.stderr
    copied = json.loads(again.stdout)
    assert copied["state"]["jobs"] == {"rows": 3, "copied": 0, "already_there": 3}
    assert copied["vectors"]["default"]["copied"] == 0 and copied["enqueued"] == 0
    assert copied["blobs"]["copied"] == 0 and copied["blobs"]["already_there"] == 3
    assert snapshot() == before  # nothing doubled, not even the waiting job's message

    [readded] = json.loads(iq("add", str(corpus(FOUR_PAGES)), "--json", check=True).stdout)
    assert readded["unchanged"] is True  # the document's version came along

    # Now the servers hold a job the home never had: they have moved on.
    late = migrate(cli, env={})
    assert late.returncode == 1 and "never had" in late.stderr
    assert "Traceback" not in late.stderr and late.stderr.count("\n") == 1


def test_the_copied_lexical_index_is_the_one_a_worker_writes(
    embedder: Any, servers: Servers, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingestq.config import load_settings
    from ingestq.state import lexical, open_state

    iq("add", str(corpus(MULTICOLUMN)), check=True)
    run_burst(embedder)
    db = open_state(load_settings())
    try:
        home_rows = lexical.search(db, "default", "Lorem ipsum", 5)
    finally:
        db.close()
    target = servers.env(servers.fresh())
    assert migrate(cli, env=target).returncode == 0
    for key, value in target.items():
        monkeypatch.setenv(key, value)
    db = open_state(load_settings())
    try:
        moved = lexical.search(db, "default", "Lorem ipsum", 5)
        # Ranked as FTS5 ranks them, from terms computed as a worker computes them.
        assert [h.row for h in moved] == [h.row for h in home_rows]
        assert [round(h.score, 6) for h in moved] == [round(h.score, 6) for h in home_rows]
    finally:
        db.close()


def test_a_running_worker_or_an_empty_home_is_refused(servers: Servers, cli: Any) -> None:
    from ingestq.config import load_settings
    from ingestq.worker.lock import worker_lock

    target = servers.env(servers.fresh())
    empty = migrate(cli, env=target)
    assert empty.returncode == 1 and "nothing to migrate" in empty.stderr
    iq("add", str(corpus(TRIVIAL)), check=True)
    with worker_lock(load_settings()):  # as a worker on this home holds it
        busy = migrate(cli, env=target)
    assert busy.returncode == 1 and "a worker is already running" in busy.stderr
    assert "Traceback" not in busy.stderr


def test_with_no_target_it_says_what_it_needs(cli: Any, home: Path) -> None:
    iq("add", str(corpus(TRIVIAL)), check=True)
    proc = cli("migrate-home")
    assert proc.returncode == 2 and "nothing to migrate to" in proc.stderr
