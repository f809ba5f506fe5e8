"""Owners: alice cannot see, cancel, retry, delete, search or ask bob's jobs and
collections, and the reverse; an admin token sees everything.

Every route of the application is checked: the table below must name each one,
so a new endpoint fails this test until someone decides how it is owned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from apiserver import ApiServer, make_token, sse_events, start_server, upload
from conftest import FOUR_PAGES, MULTICOLUMN, corpus, run_burst

ALICE_PHRASE = "Lorem ipsum"


@dataclass
class World:
    api: ApiServer
    alice: httpx.Client
    bob: httpx.Client
    admin: httpx.Client
    alice_job: str
    bob_job: str

    def alice_job_state(self) -> str:
        return str(self.admin.get(f"/v1/jobs/{self.alice_job}").json()["state"])


@pytest.fixture
def world(tmp_path: Path, embedder: Any) -> Any:
    from openai_stub import serve as llm

    tokens = {"alice": make_token("alice"), "bob": make_token("bob")}
    tokens["admin"] = make_token("root", admin=True)
    with llm() as stub:
        env = {"INGESTQ_LLM_MODEL": "stub", "OPENAI_BASE_URL": stub.url, "OPENAI_API_KEY": "x"}
        with start_server(tmp_path, env=env) as api:
            clients = {name: api.client(token) for name, token in tokens.items()}
            alice_job = upload(clients["alice"], corpus(FOUR_PAGES)).json()["jobs"][0]["id"]
            bob_job = upload(clients["bob"], corpus(MULTICOLUMN)).json()["jobs"][0]["id"]
            run_burst(embedder)
            yield World(api, clients["alice"], clients["bob"], clients["admin"], alice_job, bob_job)
            for client in clients.values():
                client.close()


def _not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


def check_submit(w: World) -> None:
    # What bob submits lands in his own collection, out of alice's sight.
    sent = w.bob.post("/v1/urls", json={"urls": ["https://example.com/b"], "delay": "1h"})
    assert sent.status_code == 202
    job = w.bob.get(sent.json()["jobs"][0]["location"]).json()
    assert job["owner"] == "bob" and job["collection"] == "default"
    assert w.admin.get(f"/v1/jobs/{job['id']}").json()["collection"] == "bob.default"
    _not_found(w.alice.get(f"/v1/jobs/{job['id']}"))


def check_list(w: World) -> None:
    for me, mine, theirs in ((w.alice, w.alice_job, w.bob_job), (w.bob, w.bob_job, w.alice_job)):
        ids = [j["id"] for j in me.get("/v1/jobs").json()["jobs"]]
        assert mine in ids and theirs not in ids
    every = [j["id"] for j in w.admin.get("/v1/jobs").json()["jobs"]]
    assert {w.alice_job, w.bob_job} <= set(every)


def check_job(w: World) -> None:
    _not_found(w.bob.get(f"/v1/jobs/{w.alice_job}"))
    _not_found(w.bob.get(f"/v1/jobs/{w.alice_job[:10]}"))  # nor by a prefix
    assert w.alice.get(f"/v1/jobs/{w.alice_job}").json()["collection"] == "default"
    assert w.admin.get(f"/v1/jobs/{w.alice_job}").json()["owner"] == "alice"


def check_events(w: World) -> None:
    _not_found(w.bob.get(f"/v1/jobs/{w.alice_job}/events"))
    stream = {"Accept": "text/event-stream"}
    _not_found(w.bob.get(f"/v1/jobs/{w.alice_job}/events", headers=stream))
    assert w.alice.get(f"/v1/jobs/{w.alice_job}/events").status_code == 200


def check_cancel(w: World) -> None:
    _not_found(w.bob.post(f"/v1/jobs/{w.alice_job}/cancel"))
    assert w.alice_job_state() == "completed"


def check_retry(w: World) -> None:
    _not_found(w.bob.post(f"/v1/jobs/{w.alice_job}/retry"))
    assert w.alice_job_state() == "completed"


def check_delete(w: World) -> None:
    _not_found(w.bob.delete(f"/v1/jobs/{w.alice_job}"))
    assert w.alice_job_state() == "completed"


def check_search(w: World) -> None:
    mine = w.alice.get("/v1/search", params={"q": ALICE_PHRASE, "k": 20}).json()["results"]
    assert mine and {h["source"] for h in mine} == {"pdflatex-4-pages.pdf"}
    theirs = w.bob.get("/v1/search", params={"q": ALICE_PHRASE, "k": 20}).json()["results"]
    assert {h["source"] for h in theirs} == {"multicolumn.pdf"}
    nothing = w.bob.get("/v1/search", params={"q": ALICE_PHRASE, "collection": "papers"})
    _not_found(nothing)


def check_ask(w: World) -> None:
    body = {"question": ALICE_PHRASE, "k": 20}
    with w.bob.stream("POST", "/v1/ask", json=body) as stream:
        [sources] = [d for n, d in sse_events(stream) if n == "sources"]
    assert {h["source"] for h in sources["hits"]} == {"multicolumn.pdf"}


def check_collections(w: World) -> None:
    for me in (w.alice, w.bob):
        [only] = me.get("/v1/collections").json()["collections"]
        assert only["name"] == "default" and only["documents"] == 1
    names = {c["name"] for c in w.admin.get("/v1/collections").json()["collections"]}
    assert names == {"alice.default", "bob.default"}


def check_me(w: World) -> None:
    assert w.bob.get("/v1/me").json() == {"owner": "bob", "admin": False, "ask": True}


def check_metrics(w: World) -> None:
    _not_found(w.bob.get("/metrics"))
    assert w.admin.get("/metrics").status_code == 200


def check_public(w: World) -> None:
    """Holds no owner's data: health, the page, the docs, the schema, static files."""


CHECKS: dict[tuple[str, str], Callable[[World], None]] = {
    ("POST", "/v1/documents"): check_submit,
    ("POST", "/v1/urls"): check_submit,
    ("GET", "/v1/jobs"): check_list,
    ("GET", "/v1/jobs/{job_id}"): check_job,
    ("GET", "/v1/jobs/{job_id}/events"): check_events,
    ("POST", "/v1/jobs/{job_id}/cancel"): check_cancel,
    ("POST", "/v1/jobs/{job_id}/retry"): check_retry,
    ("DELETE", "/v1/jobs/{job_id}"): check_delete,
    ("GET", "/v1/search"): check_search,
    ("POST", "/v1/ask"): check_ask,
    ("GET", "/v1/collections"): check_collections,
    ("GET", "/v1/me"): check_me,
    ("GET", "/metrics"): check_metrics,
    ("GET", "/healthz"): check_public,
    ("GET", "/readyz"): check_public,
    ("GET", "/"): check_public,
    ("GET", "/docs"): check_public,
    ("GET", "/openapi.json"): check_public,
    ("*", "/static"): check_public,
}


def _routes() -> list[tuple[str, str]]:
    """Every (method, path) the application answers, routers included ones unfolded."""
    from ingestq.api.app import ServeConfig, create_app
    from ingestq.config import load_settings

    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI's included router
                walk(route.original_router.routes, prefix + route.include_context.prefix)
                continue
            methods = set(getattr(route, "methods", None) or {"*"}) - {"HEAD"}
            found.extend((m, prefix + route.path) for m in sorted(methods))

    walk(create_app(ServeConfig(load_settings())).routes, "")
    return found


def test_every_route_is_owned(world: World) -> None:
    routes = _routes()
    assert sorted(set(routes) - set(CHECKS)) == [], "add the new routes to CHECKS"
    for key in routes:
        CHECKS[key](world)
    assert world.alice.get(f"/v1/jobs/{world.alice_job}").status_code == 200
