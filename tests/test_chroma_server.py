"""The vector store on a Chroma server: restarts, races, other models, bad settings, tokens.

Everything here talks to a real ``chroma run`` server: the session's (see
conftest's ``servers``), or one of a test's own that it stops and starts again.
The proxy of ``chroma_proxy`` stands only for what sits between a client and a
server in real life: the network, and a reverse proxy that answers 503.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chroma_proxy import chroma_proxy
from conftest import (
    FOUR_PAGES,
    GEOTOPO,
    GOOGLE_DOC,
    MULTICOLUMN,
    TRIVIAL,
    Ran,
    Servers,
    corpus,
    free_port,
    iq,
    wait_until,
)

SIX = [
    TRIVIAL,
    FOUR_PAGES,
    "006-pdflatex-outline/pdflatex-outline.pdf",
    GEOTOPO,
    MULTICOLUMN,
    GOOGLE_DOC,
]


def one_line(ran: Ran) -> str:
    """The single line a refused command prints; fails on a traceback or a second line."""
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in ran.stderr, ran.stderr
    return lines[0]


@pytest.fixture
def on_servers(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """State, queue and vectors on the session's servers, in a corner of this test's own."""
    name = servers.fresh()
    env = servers.env(name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        yield env
    finally:
        servers.drop(name)


@pytest.fixture
def own_chroma(servers: Servers, tmp_path: Path) -> Iterator[Servers]:
    """A Chroma server of this test's own, to stop and start at will."""
    path = tmp_path / "own-chroma"
    path.mkdir()
    port = free_port()
    own = dataclasses.replace(
        servers,
        chroma_url=f"http://127.0.0.1:{port}",
        chroma_port=port,
        chroma_path=path / "data",
        chroma_proc=None,
    )
    own.start_chroma()
    try:
        yield own
    finally:
        own.stop_chroma()


def open_server(url: str, database: str, **kwargs: Any) -> Any:
    from ingestq.store.chroma import ChromaStore

    return ChromaStore.server(url, kwargs.pop("token", None), "default_tenant", database, **kwargs)


def status_json() -> dict[str, dict[str, Any]]:
    ran = iq("status", "--json", "--limit", "1000", check=True)
    return {j["id"]: j for j in json.loads(ran.stdout)}


# -- 1. the token ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "sent"),
    [("Authorization", "Bearer tok-3n.x/Y"), ("X-Chroma-Token", "tok-3n.x/Y")],
)
def test_the_token_goes_with_every_request(servers: Servers, header: str, sent: str) -> None:
    with chroma_proxy(servers.chroma_url) as proxy:
        store = open_server(
            proxy.url, f"{servers.run}_tok_{header[0]}", token="tok-3n.x/Y", token_header=header
        )
        store.ensure_collection("tokens", "some-model", 3)
        store.add("tokens", ["a"], [[1.0, 0.0, 0.0]], ["text"], [{"job_id": "j", "source": "s"}])
        assert store.count("tokens") == 1
    assert len(proxy.requests) >= 5
    assert all(headers.get(header) == sent for _, _, headers in proxy.requests), proxy.requests


def test_a_refused_token_is_one_line(
    servers: Servers, monkeypatch: pytest.MonkeyPatch, embedder: Any
) -> None:
    with chroma_proxy(servers.chroma_url) as proxy:
        proxy.deny = True
        monkeypatch.setenv("INGESTQ_CHROMA_URL", proxy.url)
        monkeypatch.setenv("INGESTQ_CHROMA_TOKEN", "wrong-token-value")
        ran = iq("search", "anything")
    assert ran.returncode == 2
    line = one_line(ran)
    assert "refused our credentials" in line and "wrong-token-value" not in line


# -- 2. passing failures -----------------------------------------------------------


def test_5xx_answers_are_retried(servers: Servers) -> None:
    with chroma_proxy(servers.chroma_url) as proxy:
        store = open_server(proxy.url, f"{servers.run}_5xx")
        store.ensure_collection("flaky", "some-model", 3)
        proxy.fail_next = 3
        store.add("flaky", ["a", "b"], [[1.0, 0, 0], [0, 1.0, 0]], ["x", "y"], [{"k": 1}] * 2)
        assert proxy.fail_next == 0, "the failures were met"
        assert store.count("flaky") == 2


def test_an_add_whose_answer_is_lost_is_written_once(servers: Servers) -> None:
    with chroma_proxy(servers.chroma_url) as proxy:
        store = open_server(proxy.url, f"{servers.run}_lost")
        store.ensure_collection("lostanswer", "some-model", 3)
        proxy.drop_next["/add"] = 1  # the server writes the batch; the client hears nothing
        ids = [f"chunk-{i}" for i in range(5)]
        vectors = [[1.0, float(i), 0.0] for i in range(5)]
        metas = [{"job_id": "j", "chunk_index": i} for i in range(5)]
        store.add("lostanswer", ids, vectors, [f"text {i}" for i in range(5)], metas)
        assert proxy.drop_next["/add"] == 0, "the answer was lost"
        assert len(proxy.paths("POST", "/upsert")) == 1, "the retry is an upsert"
        records = list(store.records("lostanswer"))
    assert sorted(r["id"] for r in records) == ids
    assert {r["metadata"]["chunk_index"] for r in records} == set(range(5))


def test_a_long_outage_is_store_unavailable(servers: Servers) -> None:
    from ingestq.errors import StoreUnavailableError
    from ingestq.worker.fleet import is_unreachable

    with chroma_proxy(servers.chroma_url) as proxy:
        store = open_server(proxy.url, f"{servers.run}_long", retry_s=1.0)
        store.ensure_collection("outage", "some-model", 3)
        proxy.fail_next = 10_000
        with pytest.raises(StoreUnavailableError, match="out of reach") as caught:
            store.count("outage")
    assert is_unreachable(caught.value), "a worker hands the job back"
    assert proxy.url in str(caught.value)


def test_a_restart_in_the_middle_of_a_run_loses_and_duplicates_nothing(
    own_chroma: Servers,
    on_servers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    worker_proc: Any,
) -> None:
    monkeypatch.setenv("INGESTQ_CHROMA_URL", own_chroma.chroma_url)
    # No job-level retry: a failure that reached the job would fail it.
    monkeypatch.setenv("INGESTQ_MAX_RETRIES", "0")
    added = json.loads(iq("add", *(str(corpus(p)) for p in SIX), "--json", check=True).stdout)
    ids = [entry["id"] for entry in added]
    assert len(set(ids)) == 6
    worker = worker_proc()
    wait_until(
        lambda: any(j["state"] == "completed" for j in status_json().values()),
        240,
        "a first job to complete",
    )
    own_chroma.stop_chroma()
    wait_until(lambda: "out of reach" in worker.log(), 60, "the worker to meet the outage")
    own_chroma.start_chroma()
    wait_until(
        lambda: all(status_json()[i]["state"] in ("completed", "failed") for i in ids),
        300,
        "every job to end",
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.log()

    jobs = status_json()
    assert [jobs[i]["state"] for i in ids] == ["completed"] * 6, [jobs[i]["error"] for i in ids]
    assert "answers again" in worker.log()
    from ingestq.config import load_settings
    from ingestq.store import open_vector_store

    store = open_vector_store(load_settings())
    for i in ids:
        assert jobs[i]["vector_count"] > 0
        assert store.count("default", i) == jobs[i]["vector_count"], "no chunk lost or doubled"
    assert store.count("default") == sum(jobs[i]["vector_count"] for i in ids)


# -- 3. races ------------------------------------------------------------------------


def test_workers_creating_the_database_and_collection_at_once_all_succeed(
    servers: Servers,
) -> None:
    database = f"{servers.run}_race"
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_and_ensure() -> None:
        try:
            barrier.wait()
            store = open_server(servers.chroma_url, database)
            store.ensure_collection("together", "some-model", 3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_ensure) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    found = open_server(servers.chroma_url, database).collections()
    assert [(c.name, c.model) for c in found] == [("together", "some-model")]


# -- 4. another model ------------------------------------------------------------------


def test_a_collection_of_another_model_is_one_config_line_everywhere(
    on_servers: dict[str, str], embedder: Any, tmp_path: Path
) -> None:
    from ingestq.config import load_settings
    from ingestq.store import open_vector_store

    store = open_vector_store(load_settings())
    store.ensure_collection("default", "another-model", 768)
    store.ensure_collection("dims", embedder.name, 768)  # the same name, another size

    ran = iq("search", "anything")
    assert ran.returncode == 2 and "another-model" in one_line(ran)

    [queued] = json.loads(iq("add", str(corpus(TRIVIAL)), "--json", check=True).stdout)
    ran = iq("worker", "--burst")
    assert ran.returncode == 2
    assert "another-model" in ran.stderr.splitlines()[-1] and "Traceback" not in ran.stderr
    job = status_json()[queued["id"]]
    assert (job["state"], job["attempts"]) == ("queued", 0), (
        "handed back, for a worker set up right"
    )

    ran = iq("add", str(corpus(FOUR_PAGES)), "--collection", "dims", "--wait")
    assert ran.returncode == 2
    assert "768 dims" in ran.stderr.splitlines()[-1] and "Traceback" not in ran.stderr


def test_a_running_worker_meeting_another_model_stops_with_exit_2(
    on_servers: dict[str, str], worker_proc: Any
) -> None:
    from ingestq.config import load_settings
    from ingestq.store import open_vector_store

    open_vector_store(load_settings()).ensure_collection("default", "another-model", 768)
    [queued] = json.loads(iq("add", str(corpus(TRIVIAL)), "--json", check=True).stdout)
    worker = worker_proc()
    assert worker.wait(180) == 2, worker.log()
    assert "another-model" in worker.log().strip().splitlines()[-1]
    job = status_json()[queued["id"]]
    assert (job["state"], job["attempts"]) == ("queued", 0)


# -- 5. bad settings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:1", "cannot use the Chroma server at http://127.0.0.1:1"),
        ("http://127.0.0.1:99999", "not a valid URL"),
        ("chroma://127.0.0.1:8000", "must start with http:// or https://"),
        ("http://admin:hunter2@127.0.0.1:1", "http://admin:***@127.0.0.1:1"),
    ],
)
def test_a_bad_chroma_url_is_one_line(
    monkeypatch: pytest.MonkeyPatch, embedder: Any, url: str, says: str
) -> None:
    monkeypatch.setenv("INGESTQ_CHROMA_URL", url)
    ran = iq("search", "anything")
    assert ran.returncode == 2
    line = one_line(ran)
    assert says in line and "hunter2" not in ran.stderr + ran.stdout


def test_a_tenant_that_does_not_exist_is_one_line(
    servers: Servers, monkeypatch: pytest.MonkeyPatch, embedder: Any
) -> None:
    monkeypatch.setenv("INGESTQ_CHROMA_URL", servers.chroma_url)
    monkeypatch.setenv("INGESTQ_CHROMA_TENANT", "no_such_tenant")
    ran = iq("search", "anything")
    assert ran.returncode == 2 and "no such tenant" in one_line(ran)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("INGESTQ_CHROMA_TOKEN", "two words", "printable ASCII"),
        ("INGESTQ_CHROMA_TOKEN_HEADER", "Cookie", "Authorization or X-Chroma-Token"),
        ("INGESTQ_CHROMA_RETRY", "-1", "INGESTQ_CHROMA_RETRY"),
    ],
)
def test_bad_chroma_settings_are_one_line(
    servers: Servers, monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv("INGESTQ_CHROMA_URL", servers.chroma_url)
    monkeypatch.setenv(name, value)
    ran = iq("search", "anything")
    assert ran.returncode == 2
    line = one_line(ran)
    assert says in line and (name != "INGESTQ_CHROMA_TOKEN" or "two words" not in line)
