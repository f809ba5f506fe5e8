"""Which uploads ``POST /v1/documents`` handles on the event loop (``_inline``): a
declared body of at most 2 MiB, within the file cap, with every backend local."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.requests import Request

from ingestq.api.documents import FORM_OVERHEAD, INLINE_MAX, _inline
from ingestq.config import Settings, load_settings


def _request(settings: Settings, length: int | None) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(config=SimpleNamespace(settings=settings)))
    headers = [(b"content-length", str(length).encode())] if length is not None else []
    return Request({"type": "http", "method": "POST", "headers": headers, "app": app})


@pytest.fixture
def local(home: Path) -> Settings:
    return replace(load_settings(), max_file_mb=100, database_url=None, queue_url=None)


def test_small_bodies_with_local_backends_are_handled_on_the_loop(local: Settings) -> None:
    assert _inline(_request(local, INLINE_MAX))
    assert _inline(_request(local, 1))
    assert not _inline(_request(local, INLINE_MAX + 1))
    assert not _inline(_request(local, None))  # chunked: its size is not known


def test_a_body_past_the_file_cap_streams_in_a_thread(local: Settings) -> None:
    # So an oversized file is refused while it streams, not read whole first.
    capped = replace(local, max_file_mb=1)
    assert _inline(_request(capped, 1024 * 1024 + FORM_OVERHEAD))
    assert not _inline(_request(capped, 1024 * 1024 + FORM_OVERHEAD + 1))


@pytest.mark.parametrize("server", ["database_url", "queue_url"])
def test_a_backend_on_a_server_keeps_uploads_off_the_loop(local: Settings, server: str) -> None:
    # A network round trip would stall every other request of the process.
    remote = replace(local, **{server: "postgresql://db.example/ingestq"})
    assert not _inline(_request(remote, 1000))
