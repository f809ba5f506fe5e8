"""Callbacks: signed POSTs when jobs end, delivered from an outbox, never changing a job."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conftest import BROKEN, TRIVIAL, corpus, iq, run_cli, wait_until
from ingestq.webhooks import HEADER, sign, verify

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")

KEY, NEXT_KEY = "current-secret", "next-secret"


class Receiver:
    """A callback receiver on 127.0.0.1 that records what it gets; fails the first N."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(500)
                else:
                    receiver.received.append((body, dict(self.headers)))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ingestq"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


ENV = {"INGESTQ_ALLOW_PRIVATE_NETWORKS": "1", "INGESTQ_SIGNING_KEY": KEY}


def events(job_id: str) -> list[dict[str, Any]]:
    return json.loads(run_cli("events", job_id, "--json", check=True).stdout)  # type: ignore[no-any-return]


# -- verify ---------------------------------------------------------------------


def test_verify_accepts_any_current_key_and_rejects_tampering() -> None:
    body = b'{"id":"01J","state":"completed"}'
    header = sign(body, KEY)
    assert verify(body, header, [KEY])
    assert verify(body, header, [NEXT_KEY, KEY]), "rotation: old and new key overlap"
    assert verify(body, sign(body, NEXT_KEY), [KEY, NEXT_KEY])
    assert not verify(body, header, [NEXT_KEY])
    assert not verify(body + b" ", header, [KEY]), "a tampered body"
    assert not verify(body, header.replace("v1=", "v1=0"), [KEY])
    t = int(time.time())
    assert not verify(body, sign(body, KEY, t - 301), [KEY]), "a stale timestamp"
    assert not verify(body, sign(body, KEY, t + 301), [KEY]), "a timestamp from the future"
    assert verify(body, sign(body, KEY, t - 250), [KEY], tolerance_s=300)
    # The timestamp is inside the MAC: moving it breaks the signature.
    forged = sign(body, KEY, t - 1000).replace(f"t={t - 1000}", f"t={t}")
    assert not verify(body, forged, [KEY])
    for bad in ("", "garbage", "t=abc,v1=00", f"v1={'0' * 64}", "t=1,t=2,v1=00"):
        assert not verify(body, bad, [KEY])


# -- delivery -------------------------------------------------------------------


@pytest.mark.e2e
def test_callbacks_are_signed_and_carry_the_outcome(receiver: Receiver) -> None:
    ok = json.loads(
        run_cli(
            "add", str(corpus(TRIVIAL)), "--callback", receiver.url, "--json", check=True
        ).stdout
    )[0]
    bad = json.loads(
        run_cli(
            "add", str(corpus(BROKEN)), "--json", env={"INGESTQ_CALLBACK_URL": receiver.url}
        ).stdout
    )[0]
    burst = iq("worker", "--burst", env=ENV)
    assert burst.returncode == 0, burst.stderr
    by_id = {b["id"]: b for b in receiver.bodies()}
    assert set(by_id) == {ok["id"], bad["id"]}
    done, failed = by_id[ok["id"]], by_id[bad["id"]]
    assert set(done) == {
        "id", "state", "kind", "source", "collection", "error", "attempts",
        "vector_count", "topics", "queued_at", "started_at", "completed_at",
    }  # fmt: skip
    assert (done["state"], done["kind"], done["collection"]) == ("completed", "pdf", "default")
    assert done["vector_count"] > 0 and done["error"] is None and done["attempts"] == 1
    assert failed["state"] == "failed" and "cannot be read" in failed["error"]
    for body, headers in receiver.received:
        assert headers["Content-Type"] == "application/json"
        assert verify(body, headers[HEADER], [NEXT_KEY, KEY])
        assert not verify(body, headers[HEADER], [NEXT_KEY])
    assert any(e["event"] == "callback" and "delivered" in e["message"] for e in events(ok["id"]))


@pytest.mark.e2e
def test_an_unreachable_or_refused_receiver_leaves_the_job_completed() -> None:
    dead = "http://127.0.0.1:9/never"  # the discard port: nothing listens
    [job] = json.loads(run_cli("add", str(corpus(TRIVIAL)), "--callback", dead, "--json").stdout)
    assert iq("worker", "--burst", env=ENV).returncode == 0
    status = json.loads(run_cli("status", job["id"], "--json", check=True).stdout)[0]
    assert status["state"] == "completed" and status["vector_count"] > 0
    [note] = [e["message"] for e in events(job["id"]) if e["event"] == "callback"]
    assert "cannot connect" in note and "next in 5 s" in note
    # Without the private-network allowance, a loopback receiver is refused like a scrape.
    [other] = json.loads(run_cli("add", str(corpus(BROKEN)), "--callback", dead, "--json").stdout)
    env = {"INGESTQ_SIGNING_KEY": KEY}
    assert iq("worker", "--burst", env=env).returncode == 0
    notes = [e["message"] for e in events(other["id"]) if e["event"] == "callback"]
    assert notes and "loopback" in notes[0] and "INGESTQ_ALLOW_PRIVATE_NETWORKS" in notes[0]


@pytest.mark.e2e
def test_a_failed_delivery_is_retried_with_backoff(worker_proc: Any) -> None:
    flaky = Receiver(failures=1)
    try:
        worker = worker_proc(env=ENV)
        [job] = json.loads(
            run_cli("add", str(corpus(TRIVIAL)), "--callback", flaky.url, "--json").stdout
        )
        wait_until(lambda: flaky.received, 60, "the callback to be retried and delivered")
        notes = [e["message"] for e in events(job["id"]) if e["event"] == "callback"]
        assert notes[0].startswith("HTTP 500") and "attempt 1" in notes[0]
        assert notes[-1].startswith("delivered")
        assert [b["id"] for b in flaky.bodies()] == [job["id"]]
        assert worker.poll() is None
    finally:
        flaky.server.shutdown()


def test_a_bad_callback_url_is_a_usage_error() -> None:
    proc = run_cli("add", str(corpus(TRIVIAL)), "--callback", "ftp://example.org/x")
    assert proc.returncode == 2 and "http and https" in proc.stderr
    assert "Traceback" not in proc.stderr
