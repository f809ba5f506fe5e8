"""Rate limits are kept in the state database: every ``serve`` process on it takes from
the same buckets (two servers, ``--workers 2``), and a restart forgets nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from apiserver import make_token as new_token
from apiserver import start_server
from ingestq.config import load_settings
from ingestq.errors import RateLimitedError
from ingestq.ops import limits
from ingestq.state import open_state, ratelimits

pytestmark = pytest.mark.usefixtures("backend")

LATER = {"urls": ["https://example.com/a"], "delay": "1h"}


def test_threads_racing_for_a_bucket_get_exactly_its_capacity(backend: Any) -> None:
    db = open_state(load_settings(), connections=8)
    granted: list[bool] = []
    start = threading.Barrier(8)

    def racer() -> None:
        start.wait()
        for _ in range(5):
            # Frozen time: no refill, so exactly the capacity can be granted.
            granted.append(ratelimits.take(db, "submit", "t1", 12.0, 0.2, 1000.0).granted)

    try:
        threads = [threading.Thread(target=racer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert granted.count(True) == 12 and len(granted) == 40
        # Another subject and another scope have buckets of their own.
        assert ratelimits.take(db, "submit", "t2", 12.0, 0.2, 1000.0).granted
        assert ratelimits.take(db, "search", "t1", 12.0, 0.2, 1000.0).granted
        # Refilled with time: 0.2 a second, so 5 s later one more, not two.
        later = [ratelimits.take(db, "submit", "t1", 12.0, 0.2, 1005.0) for _ in range(2)]
        assert [t.granted for t in later] == [True, False]
        # Time that runs backwards (a clock stepped back) refills nothing.
        assert not ratelimits.take(db, "submit", "t1", 12.0, 0.2, 900.0).granted
    finally:
        db.close()


def test_a_refusal_says_how_long_to_wait(backend: Any) -> None:
    settings = load_settings()
    for _ in range(2):
        limits.take(settings, "search", "t9", 2, "search")
    with pytest.raises(RateLimitedError) as refused:
        limits.take(settings, "search", "t9", 2, "search")
    assert 1 <= refused.value.retry_after <= 30
    assert "at most 2 a minute" in str(refused.value)


def _urls(url: str, token: str) -> int:
    # A fresh connection each time, so --workers spreads them over its processes.
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(url + "/v1/urls", json=LATER, headers=headers, timeout=30).status_code


def test_two_servers_share_a_limit_and_a_restart_keeps_it(tmp_path: Path) -> None:
    alice, bob = new_token("alice"), new_token("bob")
    env = {"INGESTQ_API_SUBMIT_PER_MIN": "3"}
    with start_server(tmp_path, env=env) as one, start_server(tmp_path, env=env) as two:
        assert [_urls(one.url, alice), _urls(two.url, alice)] == [202, 202]
        assert [_urls(two.url, alice), _urls(one.url, alice)] == [202, 429]
        assert _urls(two.url, alice) == 429
        assert _urls(two.url, bob) == 202  # bob's bucket is his own
    with start_server(tmp_path, env=env) as again:
        assert _urls(again.url, alice) == 429  # the restart forgot nothing


def test_serve_workers_share_the_port_and_the_limit(tmp_path: Path) -> None:
    alice = new_token("alice")
    env = {"INGESTQ_API_SUBMIT_PER_MIN": "5"}
    with start_server(tmp_path, "--workers", "2", env=env) as api:
        children = _children(api.proc.pid)
        # uvicorn's supervisor and its two servers (and perhaps its resource tracker).
        assert len(children) >= 2, children
        statuses = [_urls(api.url, alice) for _ in range(12)]
        assert statuses.count(202) == 5 and statuses.count(429) == 7, statuses
        assert statuses[:5] == [202] * 5
        with api.client(alice) as client:
            assert client.get("/v1/me").json()["owner"] == "alice"
    assert _wait_gone(children), "a worker process outlived serve"


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(p) for p in found]


def _wait_gone(pids: list[int], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{p}").exists() for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_serve_workers_without_tokens_act_as_the_local_admin(tmp_path: Path) -> None:
    # Each process learns from serve that it listens on loopback only; started without
    # that word, a process would require a token (it fails closed).
    with start_server(tmp_path, "--workers", "2") as api, api.client() as client:
        for _ in range(4):
            me = client.get("/v1/me")
            assert me.status_code == 200, me.text
            assert me.json()["owner"] is None and me.json()["admin"] is True
