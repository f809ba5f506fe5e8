"""The HTTP API against a real ``ingestq serve`` process and a real worker.

Upload, 202, follow the job to the end (polling and Server-Sent Events), search,
cancel, retry, delete; JSON errors; the CLI's side: ``tokens`` and ``serve``'s
refusals.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from apiserver import ApiServer, make_token, sse_events, start_server, upload, wait_for_state
from conftest import CRAZY_ONES, FOUR_PAGES, MULTICOLUMN, TRIVIAL, corpus, iq, run_burst, run_cli

#: An asset loaded from another server: the pages must work offline.
EXTERNAL = re.compile(r"""(src|href)=["']?(https?:)?//""")


@pytest.fixture
def api(tmp_path: Path) -> Any:
    with start_server(tmp_path) as server:
        yield server


def test_upload_follow_search_and_history(
    backend: str, api: ApiServer, worker_proc: Any, tmp_path: Path
) -> None:
    token = make_token("alice")
    worker = worker_proc()
    with api.client(token) as client:
        sent = upload(client, corpus(FOUR_PAGES), collection="papers")
        assert sent.status_code == 202, sent.text
        [job] = sent.json()["jobs"]
        assert job["state"] == "queued" and job["source"] == "pdflatex-4-pages.pdf"
        assert sent.headers["location"] == job["location"] == f"/v1/jobs/{job['id']}"
        done = wait_for_state(client, job["id"], ("completed", "failed"))
        assert done["state"] == "completed", (done, worker.log())
        assert done["collection"] == "papers" and done["owner"] == "alice"
        assert done["vector_count"] > 0 and done["progress"] == 100
        found = client.get("/v1/search", params={"q": "Lorem ipsum", "collection": "papers"})
        assert found.status_code == 200, found.text
        assert found.json()["results"][0]["source"] == "pdflatex-4-pages.pdf"
        history = client.get(f"/v1/jobs/{job['id']}/events").json()["events"]
        assert history[0]["event"] == "queued"
        assert "completed" in [e["event"] for e in history]
        names = [c["name"] for c in client.get("/v1/collections").json()["collections"]]
        assert names == ["papers"]


def test_events_stream_live_until_the_job_ends(api: ApiServer, worker_proc: Any) -> None:
    with api.client() as client:  # no token configured: the local admin
        [job] = upload(client, corpus(MULTICOLUMN)).json()["jobs"]
        worker_proc()
        seen: list[tuple[str, Any]] = []
        headers = {"Accept": "text/event-stream"}
        with client.stream("GET", f"/v1/jobs/{job['id']}/events", headers=headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for name, data in sse_events(stream):
                seen.append((name, data))
                if name == "end":
                    break
    states = [d["state"] for n, d in seen if n == "job"]
    progress = [d["progress"] for n, d in seen if n == "job"]
    assert states[0] == "queued" and states[-1] == "completed"
    assert progress == sorted(progress) and progress[-1] == 100
    history = [d["event"] for n, d in seen if n == "history"]
    assert history[0] == "queued" and "completed" in history
    assert seen[-1] == ("end", {"id": job["id"], "state": "completed"})


def test_cancel_retry_and_delete_act_as_the_cli_does(api: ApiServer) -> None:
    with api.client() as client:
        [job] = upload(client, corpus(TRIVIAL)).json()["jobs"]
        path = f"/v1/jobs/{job['id']}"
        cancelled = client.post(path + "/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json() == {"id": job["id"], "source": job["source"], "state": "cancelled"}
        again = client.post(path + "/cancel")
        assert again.status_code == 409 and "only queued" in again.json()["error"]["message"]
        retried = client.post(path + "/retry")
        assert retried.status_code == 200 and retried.json()["state"] == "queued"
        assert client.post(path + "/retry").status_code == 409
        removed = client.delete(path)
        assert removed.json() == {"id": job["id"], "source": job["source"], "removed": True}
        gone = client.get(path)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    status = json.loads(iq("status", "--json").stdout)
    assert status == []


def test_duplicates_are_answered_as_add_answers_them(api: ApiServer, embedder: Any) -> None:
    with api.client() as client:
        first = upload(client, corpus(TRIVIAL)).json()["jobs"][0]
        second = upload(client, corpus(TRIVIAL)).json()["jobs"][0]
        assert second["id"] == first["id"] and second["duplicate_of"] == first["id"]
        both = upload(client, corpus(TRIVIAL), corpus(FOUR_PAGES))
        assert both.status_code == 202 and len(both.json()["jobs"]) == 2
    cli = json.loads(iq("add", str(corpus(TRIVIAL)), "--json").stdout)
    assert cli[0]["duplicate_of"] == first["id"]


def test_jobs_page_with_a_cursor_and_filter(api: ApiServer) -> None:
    with api.client() as client:
        for path in (TRIVIAL, FOUR_PAGES, MULTICOLUMN):
            assert upload(client, corpus(path), collection="pile").status_code == 202
        upload(client, corpus(TRIVIAL), collection="other")
        first = client.get("/v1/jobs", params={"limit": 2, "collection": "pile"}).json()
        assert [j["source"] for j in first["jobs"]] == ["multicolumn.pdf", "pdflatex-4-pages.pdf"]
        rest = client.get(
            "/v1/jobs", params={"limit": 2, "collection": "pile", "cursor": first["next_cursor"]}
        ).json()
        assert [j["source"] for j in rest["jobs"]] == ["minimal-document.pdf"]
        assert rest["next_cursor"] is None
        assert len(client.get("/v1/jobs").json()["jobs"]) == 4
        none = client.get("/v1/jobs", params={"state": "failed"}).json()
        assert none == {"jobs": [], "next_cursor": None}
        bad = client.get("/v1/jobs", params={"state": "nope"})
        assert bad.status_code == 400 and "unknown state" in bad.json()["error"]["message"]


def test_urls_are_validated_as_scrape_validates_them(api: ApiServer) -> None:
    with api.client() as client:
        ok = client.post("/v1/urls", json={"urls": ["https://example.com/a"], "delay": "1h"})
        assert ok.status_code == 202, ok.text
        [job] = ok.json()["jobs"]
        assert job["state"] == "queued" and job["source"] == "https://example.com/a"
        bad = client.post("/v1/urls", json={"urls": ["ftp://example.com/x"]})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"].startswith("nothing to scrape")
        invalid = client.post("/v1/urls", json={"urls": "not a list"})
        assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_request"


def test_errors_are_json_and_never_tracebacks(api: ApiServer) -> None:
    with api.client() as client:
        for response in (
            client.get("/v1/nothing-here"),
            client.get("/v1/jobs/01ZZZZZZZZZZZZZZZZZZZZZZZZ"),
            client.get("/v1/search"),
            client.post("/v1/documents", content=b"plain", headers={"Content-Type": "text/plain"}),
            client.post("/v1/documents", files={"other": ("a.pdf", b"%PDF-1.4")}),
            client.post("/v1/ask", json={"question": "anything?"}),
        ):
            body = response.json()
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
            assert "Traceback" not in response.text
            assert response.status_code in (400, 404, 422, 501)
        no_llm = client.post("/v1/ask", json={"question": "anything?"})
        assert no_llm.status_code == 501 and "no LLM" in no_llm.json()["error"]["message"]
    assert "Traceback" not in api.log()


def test_ask_streams_the_answer_then_its_sources(tmp_path: Path, embedder: Any) -> None:
    from openai_stub import serve as llm

    # Two documents and a question only one of them answers: the four pages of
    # blind text are near-ties for each other, so which of them ranks first is
    # not something a test may pin.
    iq("add", str(corpus(FOUR_PAGES)), str(corpus(CRAZY_ONES)), check=True)
    run_burst(embedder)
    with llm() as stub:
        env = {"INGESTQ_LLM_MODEL": "stub", "OPENAI_BASE_URL": stub.url, "OPENAI_API_KEY": "x"}
        with start_server(tmp_path, env=env) as api, api.client() as client:
            body = {"question": "Who are the misfits, the rebels and the troublemakers?", "k": 3}
            with client.stream("POST", "/v1/ask", json=body) as stream:
                assert stream.status_code == 200
                seen = list(sse_events(stream))
    text = "".join(d["text"] for n, d in seen if n == "answer")
    assert text == "The sources say so [crazyones-pdfa.pdf p.1]."
    [sources] = [d for n, d in seen if n == "sources"]
    assert sources["sources"] == ["crazyones-pdfa.pdf p.1"]
    assert sources["hits"][0]["source"].endswith("crazyones-pdfa.pdf")
    assert seen[-1][0] == "end"


def test_health_readiness_metrics_and_offline_docs(tmp_path: Path, embedder: Any) -> None:
    iq("add", str(corpus(TRIVIAL)), check=True)
    run_burst(embedder)
    admin, alice = make_token("root", admin=True), make_token("alice")
    with start_server(tmp_path) as api, api.client(admin) as client:
        assert httpx.get(api.url + "/healthz").json() == {"status": "ok"}
        assert httpx.get(api.url + "/readyz").json()["status"] == "ready"
        metrics = client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = metrics.text
        assert 'ingestq_jobs{state="completed"} 1' in text
        assert 'ingestq_stage_duration_seconds_bucket{stage="embedding",le="+Inf"} 1' in text
        assert "ingestq_chunks_embedded_total 1" in text and "ingestq_queue_depth 0" in text
        assert "ingestq_retries_total 0" in text
        assert (
            httpx.get(
                api.url + "/metrics", headers={"Authorization": f"Bearer {alice}"}
            ).status_code
            == 404
        )
        docs = httpx.get(api.url + "/docs").text
        assert "openapi.json" in docs and not EXTERNAL.search(docs)
        schema = httpx.get(api.url + "/openapi.json").json()
        assert "/v1/documents" in schema["paths"] and "/v1/ask" in schema["paths"]
        page = httpx.get(api.url + "/")
        assert page.status_code == 200 and not EXTERNAL.search(page.text)
        for asset in ("/static/app.js", "/static/docs.js", "/static/app.css"):
            served = httpx.get(api.url + asset)
            assert served.status_code == 200 and "//cdn" not in served.text
    port = _closed_port()
    env = {"INGESTQ_CHROMA_URL": f"http://127.0.0.1:{port}"}
    with start_server(tmp_path, env=env) as api:
        ready = httpx.get(api.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["message"] == "not reachable: vectors"


def _closed_port() -> int:
    from conftest import free_port

    return free_port()


def test_serve_refuses_the_network_without_tokens(tmp_path: Path) -> None:
    proc = run_cli("serve", "--host", "0.0.0.0", "--port", "1", timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--host 0.0.0.0 needs tokens" in lines[0]
    with start_server(tmp_path) as api:
        time.sleep(0.2)
        assert "no tokens configured: listening on 127.0.0.1 only" in api.log()


def test_tokens_are_shown_once_stored_hashed_and_revocable(home: Path) -> None:
    token = make_token("alice")
    listed = json.loads(iq("tokens", "list", "--json").stdout)
    [record] = listed
    assert record["owner"] == "alice" and record["revoked_at"] is None
    assert token not in json.dumps(listed) and token not in (home / "state.db").read_bytes().decode(
        "latin-1"
    )
    assert iq("tokens", "revoke", record["id"]).returncode == 0
    assert json.loads(iq("tokens", "list", "--json").stdout)[0]["revoked_at"]
    again = iq("tokens", "revoke", record["id"])
    assert again.returncode == 1 and "no active token" in again.stderr
    bad = iq("tokens", "create", "--owner", "a.b")
    assert bad.returncode == 2 and "invalid owner" in bad.stderr
