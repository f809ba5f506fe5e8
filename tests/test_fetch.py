"""The fetcher and the SSRF guard, in-process against a real local HTTP server."""

from __future__ import annotations

import ipaddress
import itertools
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from ingestq.config import Settings, load_settings
from ingestq.errors import BlockedURLError, PermanentJobError, TransientJobError
from ingestq.readers.fetch import USER_AGENT, Fetcher
from ingestq.readers.netguard import NetGuard, refusal
from ingestq.readers.webpage import parse
from webserver import ARTICLE, NAV_TEXT, Server, serve


def settings(**changes: object) -> Settings:
    base = replace(
        load_settings(),
        allow_private_networks=True,
        host_delay_s=0.0,
        read_timeout_s=1.0,
        max_download_mb=1.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "100.64.0.1",
        "240.0.0.1",
        "::1",
        "fc00::1",
        "fd12::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::",
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == ""


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://localhost/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/intranet",
    ],
)
def test_private_targets_are_refused_with_a_way_out(url: str) -> None:
    fetcher = Fetcher(settings(allow_private_networks=False))
    with pytest.raises(BlockedURLError) as info:
        fetcher.get(url)
    assert "INGESTQ_ALLOW_PRIVATE_NETWORKS=1" in str(info.value)


def test_a_host_with_any_private_address_is_refused() -> None:
    # A rebinding trick: one public and one private answer.
    guard = NetGuard(False, resolver=lambda host, port: ["93.184.215.14", "127.0.0.1"])
    with pytest.raises(BlockedURLError, match="loopback"):
        guard.check("http://rebind.test/")


def test_a_redirect_to_a_private_address_is_refused(server: Server) -> None:
    # Test seam: the local server's address counts as public, nothing else does.
    guard = NetGuard(False, exempt={"127.0.0.1"})
    fetcher = Fetcher(settings(allow_private_networks=False), guard=guard)
    assert fetcher.get(server.url("/docs/notes.txt")).status == 200
    with pytest.raises(BlockedURLError, match=r"169\.254\.169\.254"):
        fetcher.get(server.url("/to-metadata"))
    assert "/latest/meta-data/" not in server.log.paths()


def test_the_request_goes_to_the_checked_address(server: Server) -> None:
    """A name the real DNS does not know is resolved once, by the guard, and used as is."""
    port = server.base.rsplit(":", 1)[1]
    guard = NetGuard(True, resolver=lambda host, p: ["127.0.0.1"])
    got = Fetcher(settings(), guard=guard).get(f"http://docs.test:{port}/docs/notes.txt")
    assert got.status == 200 and b"log files" in got.body
    headers = server.log.requests[-1][2]
    assert headers["Host"] == f"docs.test:{port}"
    assert headers["User-Agent"] == USER_AGENT == "ingestq/0.1.0"


def test_redirects_are_followed_up_to_five(server: Server) -> None:
    fetcher = Fetcher(settings())
    got = fetcher.get(server.url("/hop/4"))  # five redirects
    assert got.url == server.url("/docs/install.html")
    with pytest.raises(PermanentJobError, match="too many redirects"):
        fetcher.get(server.url("/hop/5"))
    with pytest.raises(PermanentJobError, match="too many redirects"):
        fetcher.get(server.url("/loop/a"))


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("/missing", PermanentJobError, "HTTP 404"),
        ("/gone", PermanentJobError, "HTTP 410"),
        ("/error", TransientJobError, "HTTP 500"),
        ("/busy", TransientJobError, "HTTP 503"),
        ("/slow", TransientJobError, "timed out"),
        ("/huge", PermanentJobError, "1 MB download limit"),
        ("/private/secret.html", BlockedURLError, "robots.txt"),
    ],
)
def test_failures_are_classified(
    server: Server, path: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        Fetcher(settings()).get(server.url(path))
    assert isinstance(info.value, TransientJobError) == (error is TransientJobError)


def test_connection_refused_is_transient(tmp_path: Path) -> None:
    with pytest.raises(TransientJobError, match="cannot connect"):
        Fetcher(settings()).get("http://127.0.0.1:9/")


def test_robots_can_be_ignored(server: Server) -> None:
    got = Fetcher(settings(ignore_robots=True)).get(server.url("/private/secret.html"))
    assert got.status == 200
    assert "/robots.txt" not in server.log.paths()


def test_robots_is_fetched_once_per_host(server: Server) -> None:
    fetcher = Fetcher(settings())
    for path in ("/docs/notes.txt", "/docs/faq.md", "/docs/install.html"):
        fetcher.get(server.url(path))
    assert server.log.paths().count("/robots.txt") == 1


def test_gzip_is_decoded(server: Server) -> None:
    assert Fetcher(settings()).get(server.url("/docs/gzip.html")).body == ARTICLE.encode()


def test_one_request_per_host_at_a_time_with_a_delay(server: Server) -> None:
    fetcher = Fetcher(settings(host_delay_s=0.2))
    fetcher.get(server.url("/docs/notes.txt"))  # robots.txt first
    threads = [
        threading.Thread(target=fetcher.get, args=(server.url("/docs/install.html"),))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.log.max_in_flight == 1
    times = [t for t, p, _ in server.log.requests if p == "/docs/install.html"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 4 and min(gaps) >= 0.2


def test_crawl_delay_is_honoured_when_longer() -> None:
    with serve(robots="User-agent: *\nCrawl-delay: 0.6\n") as srv:
        fetcher = Fetcher(settings(host_delay_s=0.1))
        fetcher.get(srv.url("/docs/notes.txt"))
        fetcher.get(srv.url("/docs/faq.md"))
        times = [t for t, p, _ in srv.log.requests if p.startswith("/docs/")]
        assert times[1] - times[0] >= 0.6


def test_html_extraction_keeps_content_and_drops_chrome(server: Server) -> None:
    got = Fetcher(settings()).get(server.url("/docs/install.html"))
    page = parse(got.body, got.content_type, got.charset, got.url)
    assert page.title == "Installing Widgets — Widget Docs"
    headings = [s.heading for s in page.sections]
    assert headings == ["Installing Widgets", "Retries and backoff", "Uninstalling"]
    text = page.text
    assert "exponential backoff" in text and "--purge" in text
    for chrome in (
        NAV_TEXT,
        "Next topic",
        "Show source",
        "Report a bug",
        "All rights reserved",
        "tracking-script-text",
        "API reference",
        "color: #333",
    ):
        assert chrome not in text


def test_charset_from_meta_when_the_header_has_none(server: Server) -> None:
    got = Fetcher(settings()).get(server.url("/docs/latin1.html"))
    assert got.charset is None
    page = parse(got.body, got.content_type, got.charset, got.url)
    assert page.title == "Café Köln"
    assert "Grüße aus Köln" in page.text


def test_markdown_is_split_at_headings(server: Server) -> None:
    got = Fetcher(settings()).get(server.url("/docs/faq.md"))
    page = parse(got.body, got.content_type, got.charset, got.url)
    assert [s.heading for s in page.sections] == ["Widget FAQ", "Can widgets fly?"]
