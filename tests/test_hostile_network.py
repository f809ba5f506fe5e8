"""Hostile servers: bombs get no further than the download cap, dribbles no further
than the deadline, and a cancel stops a fetch in flight. Real processes, real sockets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    MEASURE_PEAK,
    TRIVIAL,
    corpus,
    iq,
    peak_rss_mb,
    run_cli,
    wait_until,
)
from hostile.server import Hostile, serve
from ingestq.config import load_settings
from ingestq.errors import BlockedURLError, PermanentJobError, TransientJobError
from ingestq.readers.fetch import Fetcher
from ingestq.readers.netguard import NetGuard

PRIVATE_OK = {"INGESTQ_ALLOW_PRIVATE_NETWORKS": "1", "INGESTQ_HOST_DELAY": "0"}


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    with serve() as server:
        yield server


def fetcher(**env: str) -> Fetcher:
    return Fetcher(load_settings({**PRIVATE_OK, **env, "INGESTQ_HOME": "/nonexistent"}))


def in_time(call: Any, seconds: float) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised. Fails if it is still running
    after ``seconds`` (a guard so that a regression hangs no test run)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still running after {seconds} s"
    return outcome[0]


# -- memory ---------------------------------------------------------------------------


@pytest.mark.parametrize("bomb", ["brotli-bomb", "gzip-bomb", "gzip-gzip-bomb"])
def test_a_compression_bomb_stops_at_the_cap_on_its_decoded_size(
    hostile: Hostile, bomb: str
) -> None:
    # 1 GiB of zeros each; before, 809 bytes of brotli drove `extract` to 2.1 GB.
    proc = run_cli("extract", hostile.url(f"/{bomb}.html"), env=PRIVATE_OK, fault=MEASURE_PEAK)
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("PEAK-RSS-KB")]
    assert proc.returncode == 1, proc.stderr
    assert lines == ["error: the response is larger than the 20 MB download limit"
                     " (INGESTQ_MAX_DOWNLOAD_MB)"]  # fmt: skip
    assert peak_rss_mb(proc.stderr) < 300


def test_robots_txt_and_callbacks_read_through_the_same_capped_path(hostile: Hostile) -> None:
    f = fetcher(INGESTQ_MAX_DOWNLOAD_MB="1")
    with pytest.raises(PermanentJobError, match="larger than the 1 MB"):
        f.get(hostile.url("/brotli-bomb.html"))
    # A robots.txt that is a bomb ends the same way.
    with serve(robots_bomb=True) as bombed, pytest.raises(PermanentJobError, match="1 MB"):
        f.get(bombed.url("/deep.html"))
    # A callback receiver answering with one: the POST is capped too.
    with pytest.raises(PermanentJobError, match="larger than the 1 MB"):
        f.post(hostile.url("/gzip-gzip-bomb.html"), b"{}", {})


def test_an_encoding_we_did_not_ask_for_is_refused(hostile: Hostile) -> None:
    with pytest.raises(PermanentJobError, match="unsupported content encoding 'zstd'"):
        fetcher().get(hostile.url("/zstd.html"))


# -- time -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/dribble-headers", "/dribble-body"])
def test_a_dribbling_server_is_cut_off_at_the_fetch_deadline(hostile: Hostile, path: str) -> None:
    # One byte every 0.2 s never trips the 30 s read timeout; the deadline covers it all.
    f = fetcher(INGESTQ_FETCH_TIMEOUT="1.5")
    error = in_time(lambda: f.get(hostile.url(path)), 30)
    assert isinstance(error, TransientJobError)
    assert "took longer than 1.5 s" in str(error)


def test_headers_too_large_are_a_permanent_error(hostile: Hostile) -> None:
    error = in_time(lambda: fetcher().get(hostile.url("/huge-headers")), 30)
    assert isinstance(error, PermanentJobError) and not error.transient
    assert "headers" in str(error) and "too large" in str(error)


def test_a_read_timeout_is_not_called_a_connect_timeout(server: Any) -> None:
    # The server accepts at once, then takes 3 s to answer.
    error = in_time(lambda: fetcher(INGESTQ_READ_TIMEOUT="0.5").get(server.url("/slow")), 30)
    assert isinstance(error, TransientJobError)
    assert "waiting for 127.0.0.1 to answer" in str(error) and "connecting" not in str(error)


def test_cancel_stops_a_fetch_in_flight(hostile: Hostile, worker_proc: Any) -> None:
    env = {**PRIVATE_OK, "INGESTQ_FETCH_TIMEOUT": "600", "INGESTQ_HEARTBEAT": "0.5"}
    # One job at a time: the next job can only run once the worker has let go of
    # the stuck fetch (and removed what it wrote).
    worker_proc("--concurrency", "1", env=env)
    [stuck] = json.loads(run_cli("scrape", hostile.url("/dribble-headers"), "--json",
                                 env=env, check=True).stdout)  # fmt: skip
    [after] = json.loads(run_cli("add", str(corpus(TRIVIAL)), "--json", check=True).stdout)

    def state(job_id: str) -> str:
        got = json.loads(run_cli("status", job_id, "--json", check=True).stdout)[0]
        return str(got["state"])

    wait_until(lambda: state(stuck["id"]) == "processing", 60, "the fetch to start")
    run_cli("cancel", stuck["id"], check=True)
    # The worker lets go of the fetch and gets on with the next job, long before
    # the 600 s fetch deadline.
    wait_until(lambda: state(after["id"]) == "completed", 60, "the next job to run")
    history = json.loads(run_cli("events", stuck["id"], "--json", check=True).stdout)
    assert "vectors_removed" in [e["event"] for e in history]


def test_a_callback_receiver_that_dribbles_cannot_hold_a_burst(hostile: Hostile) -> None:
    env = {**PRIVATE_OK, "INGESTQ_FETCH_TIMEOUT": "2"}
    hook = hostile.url("/dribble-headers/hook")
    [job] = json.loads(run_cli("add", str(corpus(TRIVIAL)), "--callback", hook, "--json",
                               check=True).stdout)  # fmt: skip
    burst = run_cli("worker", "--burst", env=env, timeout=180)
    assert burst.returncode == 0, burst.stderr
    history = json.loads(run_cli("events", job["id"], "--json", check=True).stdout)
    [note] = [e["message"] for e in history if e["event"] == "callback"]
    assert "took longer than 2 s" in note


def test_deeply_nested_html_keeps_its_text_and_its_deadline(hostile: Hostile) -> None:
    # 100,000 nested divs took 103 s and lost the text; now they are flattened first.
    env = {**PRIVATE_OK, "INGESTQ_JOB_TIMEOUT": "20"}
    [job] = json.loads(iq("scrape", hostile.url("/deep.html"), "--json", check=True).stdout)
    assert iq("worker", "--burst", env=env).returncode == 0
    done = json.loads(iq("status", job["id"], "--json", check=True).stdout)[0]
    assert done["state"] == "completed", done["error"]
    text = " ".join(c["text"] for c in json.loads(iq("chunks", job["id"], "--json").stdout))
    assert "The real text of the deep page survives" in text


# -- addresses and credentials ---------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("2002:7f00:1::", "127.0.0.1"),  # 6to4
        ("2002:a00:1::", "10.0.0.1"),
        ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64, well-known prefix
        ("64:ff9b:1::a9fe:a9fe", "169.254.169.254"),  # NAT64, local-use prefix
    ],
)
def test_ipv6_forms_of_private_addresses_are_refused(address: str, embedded: str) -> None:
    guard = NetGuard(allow_private=False, resolver=lambda host, port: [address])
    with pytest.raises(BlockedURLError, match=f"embeds {embedded}"):
        guard.check("http://sneaky.example/")
    assert NetGuard(False, resolver=lambda h, p: ["2002:808:808::"]).check("http://x.example/")


def test_credentials_in_a_url_are_refused_and_never_shown(tmp_path: Path) -> None:
    proc = run_cli("scrape", "https://alice:s3cret@example.org/private")
    assert proc.returncode == 2
    assert "s3cret" not in proc.stderr and "alice:***@example.org" in proc.stderr
    assert "credentials" in proc.stderr and "Traceback" not in proc.stderr
    callback = run_cli("add", str(corpus(TRIVIAL)), "--callback", "https://bob:pw@example.org/")
    assert callback.returncode == 2 and ":pw@" not in callback.stderr
    assert json.loads(run_cli("status", "--json", check=True).stdout) == []
