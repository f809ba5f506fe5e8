"""The API's limits: 413 while an oversized upload streams (memory stays flat), 415
for what is not a PDF, 429 with Retry-After per token and kind, 401 without a
valid token."""

from __future__ import annotations

import fcntl
import os
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from apiserver import ApiServer, make_token, start_server, upload
from conftest import TRIVIAL, corpus, iq

MB = 1024 * 1024
BOUNDARY = "iqtestboundary"


def _raw_upload(
    api: ApiServer, token: str, size: int, head: bytes = b"%PDF-1.4\n"
) -> tuple[int, int, bytes]:
    """POST one file of ``size`` bytes over a raw socket, sending until the server
    answers; the status, the bytes of the body sent by then, and the answer."""
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(part) + size + len(tail)
    where = urlsplit(api.url)
    sock = socket.create_connection((where.hostname, where.port))
    sock.sendall(
        (
            f"POST /v1/documents HTTP/1.1\r\nHost: {where.netloc}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
    )
    sent = 0
    block = b"0" * MB
    pieces = [part, head + block[: MB - len(head)]]
    try:
        while sent < length:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered: stop sending
            piece = pieces.pop(0) if pieces else block[: min(MB, length - sent - len(tail))] or tail
            sock.sendall(piece)
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass  # it answered and closed while we were still sending
    answer = b""
    sock.settimeout(30)
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    sock.close()
    return int(answer.split(b" ", 2)[1]), sent, answer


@pytest.fixture
def limited(tmp_path: Path) -> Any:
    token = make_token("alice")
    with start_server(tmp_path, env={"INGESTQ_MAX_FILE_MB": "30"}) as api:
        yield api, token


def test_oversized_upload_is_refused_while_it_streams_and_memory_stays_flat(limited: Any) -> None:
    api, token = limited
    with api.client(token) as client:  # warm up: the upload path imported and run once
        assert upload(client, corpus(TRIVIAL)).status_code == 202
    before = api.rss_kb()
    status, sent, answer = _raw_upload(api, token, 200 * MB)
    grown_mb = (api.rss_kb() - before) / 1024
    assert status == 413 and b'"code":"too_large"' in answer
    assert b"over the 30 MB limit (INGESTQ_MAX_FILE_MB)" in answer
    assert sent < 100 * MB  # answered long before the body ended
    assert grown_mb < 10, f"the server grew by {grown_mb:.1f} MB reading 30 MB"
    # Within the cap, a large file is streamed to the blob store just the same.
    status, _, answer = _raw_upload(api, token, 25 * MB)
    assert status == 202, answer
    assert (api.rss_kb() - before) / 1024 < 10


def test_an_upload_is_refused_for_its_token_before_anything_else(limited: Any, home: Path) -> None:
    """The token is checked first (in the upload's own thread), before the declared
    size and before a byte of the body is read: a stranger's 200 MB upload is a 401."""
    api, token = limited
    status, sent, answer = _raw_upload(api, token[:-4] + "zzzz", 200 * MB)
    assert status == 401 and b'"code":"unauthorized"' in answer
    assert sent < 100 * MB
    status, _, answer = _raw_upload(api, "", 200 * MB)
    assert status == 401
    assert [p for p in (home / "blobs").rglob("*") if p.is_file()] == []  # nothing stored
    with api.client(token) as client:
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_a_small_upload_is_refused_for_its_token_before_its_body(limited: Any) -> None:
    """A body of 2 MiB or less is handled on the event loop (all backends local) and
    read whole there; the token is still checked first: the headers alone get the 401."""
    api, token = limited
    where = urlsplit(api.url)
    with socket.create_connection((where.hostname, where.port), timeout=20) as sock:
        sock.sendall(
            (
                f"POST /v1/documents HTTP/1.1\r\nHost: {where.netloc}\r\n"
                f"Authorization: Bearer {token[:-4]}zzzz\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {MB}\r\n\r\n"
            ).encode()
        )
        answer = sock.recv(65536)  # not one byte of the body sent
    assert answer.startswith(b"HTTP/1.1 401"), answer


def test_a_file_that_is_not_a_pdf_is_refused(limited: Any, tmp_path: Path) -> None:
    api, token = limited
    png = tmp_path / "picture.pdf"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 4096)
    with api.client(token) as client:
        refused = upload(client, png)
        assert refused.status_code == 415
        assert refused.json()["error"] == {
            "code": "unsupported_media_type",
            "message": "picture.pdf: not a PDF (it does not start with %PDF-)",
        }
        assert client.get("/v1/jobs").json()["jobs"] == []
    status, _, _ = _raw_upload(api, token, 3 * MB, head=b"GIF89a")
    assert status == 415


def test_rate_limits_apply_per_token_and_kind(tmp_path: Path) -> None:
    alice, bob = make_token("alice"), make_token("bob")
    env = {"INGESTQ_API_SEARCH_PER_MIN": "3", "INGESTQ_API_SUBMIT_PER_MIN": "2"}
    with start_server(tmp_path, env=env) as api, api.client(alice) as client:
        for _ in range(3):
            assert client.get("/v1/search", params={"q": "x", "mode": "lexical"}).status_code == 404
        limited_search = client.get("/v1/search", params={"q": "x", "mode": "lexical"})
        assert limited_search.status_code == 429
        assert 1 <= int(limited_search.headers["retry-after"]) <= 20
        assert limited_search.json()["error"]["code"] == "rate_limited"
        body = {"urls": ["https://example.com/a"], "delay": "1h"}
        assert [client.post("/v1/urls", json=body).status_code for _ in range(3)] == [202, 202, 429]
        assert client.get("/v1/jobs").status_code == 200  # reading jobs is not limited
        other = client.get(
            "/v1/search",
            params={"q": "x", "mode": "lexical"},
            headers={"Authorization": f"Bearer {bob}"},
        )
        assert other.status_code == 404


def test_a_missing_unknown_or_revoked_token_is_401(limited: Any) -> None:
    api, alice = limited
    wrong = alice[:-4] + ("aaaa" if not alice.endswith("aaaa") else "bbbb")
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": f"Bearer {wrong}"},
                    {"Authorization": f"Basic {alice}"}):  # fmt: skip
        with api.client(headers=headers) as client:
            refused = client.get("/v1/jobs")
            assert refused.status_code == 401, headers
            assert refused.headers["www-authenticate"] == "Bearer"
            assert refused.json()["error"]["code"] == "unauthorized"
    with api.client(alice) as client:
        assert client.get("/v1/jobs").status_code == 200
        iq("tokens", "revoke", "--owner", "alice", check=True)
        time.sleep(0.1)
        assert client.get("/v1/jobs").status_code == 401


def test_a_small_upload_waits_for_the_write_turn_off_the_event_loop(
    limited: Any, home: Path
) -> None:
    """An upload handled on the event loop that finds another process writing (here:
    holding the state database's write turn) moves to a thread: the server keeps
    answering, and the upload lands once the turn is free."""
    api, token = limited
    turn = os.open(home / "state.db-writer", os.O_RDWR | os.O_CREAT)
    done: list[int] = []
    try:
        with api.client(token) as client:
            # Used now, the token is not written again for a minute: the reads below
            # need no write turn.
            assert client.get("/v1/jobs").status_code == 200
            fcntl.flock(turn, fcntl.LOCK_EX)
            waiting = threading.Thread(
                target=lambda: done.append(upload(client, corpus(TRIVIAL)).status_code)
            )
            waiting.start()
            time.sleep(1)  # the upload is in, and waits for the turn
            with api.client(token) as other:
                assert other.get("/healthz", timeout=5).status_code == 200
                assert other.get("/v1/jobs", timeout=5).status_code == 200
            assert done == [], "the upload did not wait for the write turn"
            fcntl.flock(turn, fcntl.LOCK_UN)
            waiting.join(30)
    finally:
        os.close(turn)
    assert done == [202]
