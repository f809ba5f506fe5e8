"""Web page extraction keeps every documented entry, once, and no navigation.

The reference pages are real Sphinx manuals (benchmarks/retrieval/docs, with
their licences); the oracle that lists their entries is selectolax, a parser of
its own, not the lxml walk under test.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from conftest import ROOT, run_burst, store_records
from ingestq.config import load_settings
from ingestq.ops.inputs import ChunkOptions
from ingestq.ops.submit import SubmitOptions, scrape_urls
from ingestq.readers import region, webpage
from webserver import ARTICLE, NAV_TEXT

DOCS = ROOT / "benchmarks" / "retrieval" / "docs"
REFERENCE_PAGES = ["click/api.html", "jinja2/api.html", "attr/api.html", "attr/glossary.html"]


def squeeze(text: str) -> str:
    """Text without white space or permalink marks: what two readings of a page share."""
    return "".join(unicodedata.normalize("NFKC", text).replace("\u00b6", "").split())


def page_text(path: Path) -> str:
    return webpage.parse(path.read_bytes(), "text/html", None, f"http://docs.test/{path.name}").text


def read_page(path: Path) -> LexborHTMLParser:
    tree = LexborHTMLParser(path.read_text())
    for mark in tree.css("a.headerlink"):  # permalinks: "¶", or an icon font's glyph
        mark.decompose()
    return tree


def descriptions(path: Path) -> dict[str, str]:
    """Each documented entry (``dt[id]``) and the text of its description (``dd``)."""
    tree = read_page(path)
    found = {}
    for dt in tree.css("dl > dt[id]"):
        dd = dt.next
        while dd is not None and dd.tag != "dd":
            dd = dd.next
        if dd is not None and squeeze(dd.text(deep=True)):
            found[dt.attributes["id"] or ""] = squeeze(dd.text(deep=True))
    return found


@pytest.mark.parametrize("page", REFERENCE_PAGES)
def test_every_documented_entry_reaches_the_text(page: str) -> None:
    text = squeeze(page_text(DOCS / page))
    entries = descriptions(DOCS / page)
    assert len(entries) >= 5
    missing = [anchor for anchor, description in entries.items() if description not in text]
    assert missing == []


def test_reference_pages_keep_their_navigation_out() -> None:
    text = page_text(DOCS / "click/api.html")
    for boilerplate in ("Quick search", "Navigation", "Project Links", "\u00b6"):
        assert boilerplate not in text
    # Short descriptions, the kind trafilatura drops, are there with their entry.
    assert "obj: Any\nthe user object stored." in text


WALKED = """<!doctype html><html><head><title>Ref</title><script>var x = 1;</script></head>
<body><div class="sphinxsidebar" role="navigation"><p>Sidebar link text</p></div>
<div class="body" role="main"><h1>Reference<a class="headerlink" href="#r">¶</a></h1>
<nav><a href="/prev">Previous page link</a></nav>
<p>Every entry of the library.</p>
<dl><dt id="f">f(x)<a class="headerlink" href="#f">¶</a></dt><dd><p>Short one.</p></dd>
<dt id="g">g()</dt><dd><ul><li>outer item<ul><li>decode(s) turns bytes into text</li></ul></li>
</ul></dd></dl>
<div class="admonition seealso"><p class="admonition-title">See also</p><p>The f entry.</p></div>
<table><tr><th>Name</th><th>Meaning</th></tr><tr><td>a</td><td>first</td></tr></table>
<pre>line one
  line two</pre>
<form><button>Search button</button></form><script>var tracking = 1;</script>
</div></body></html>"""


def test_the_region_walk_keeps_structure_and_skips_the_furniture() -> None:
    tree = region.parse_tree(WALKED)
    assert tree is not None
    area = region.find_region(tree)
    assert area is not None and area.get("role") == "main"
    assert region.definitions(area) == ["Shortone.", "outeritemdecode(s)turnsbytesintotext"]
    blocks = region.walk(area)
    assert [b.heading for b in blocks] == ["Reference"]
    assert blocks[0].lines == [
        "Every entry of the library.",
        "f(x)",
        "Short one.",
        "g()",
        "outer item",
        "decode(s) turns bytes into text",
        "See also",
        "The f entry.",
        "Name | Meaning",
        "a | first",
        "line one",
        "  line two",
    ]
    text = "\n".join(blocks[0].lines)
    for furniture in ("Sidebar link", "Previous page", "Search button", "var ", "\u00b6"):
        assert furniture not in text


NESTED = ARTICLE.replace(
    "<h2>Uninstalling</h2>",
    "<h2>Codecs</h2><p>The codec module has these parts, each documented in turn below.</p>"
    "<ul><li>codecs: the registry of encodings<ul><li>decode(s) turns bytes into text</li>"
    "<li>encode(s) turns text into bytes</li></ul></li><li>errors: what to do on bad input</li>"
    "</ul><h2>Uninstalling</h2>",
)


def test_nested_list_items_appear_once_and_articles_stay_with_trafilatura() -> None:
    doc = webpage.parse(NESTED.encode(), "text/html", "utf-8", "http://docs.test/a")
    assert doc.text.count("decode(s) turns bytes into text") == 1
    assert doc.text.count("codecs: the registry of encodings") == 1
    assert "errors: what to do on bad input" in doc.text
    assert NAV_TEXT not in doc.text and "All rights reserved" not in doc.text
    assert [s.heading for s in doc.sections] == [
        "Installing Widgets",
        "Retries and backoff",
        "Codecs",
        "Uninstalling",
    ]


@pytest.fixture
def docs_url() -> Iterator[str]:
    """The manuals of the retrieval benchmark, served on 127.0.0.1."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(DOCS)))
    Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


SENTENCE = re.compile(r"(?<=[.!?])\s+")


@pytest.mark.e2e
def test_no_sentence_is_repeated_in_the_chunks_unless_the_page_repeats_it(
    home: Path, docs_url: str, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGESTQ_ALLOW_PRIVATE_NETWORKS", "1")
    monkeypatch.setenv("INGESTQ_HOST_DELAY", "0")
    pages = ["attr/api.html", "attr/examples.html", "click/options.html", "jinja2/templates.html"]
    # No overlap, so that chunks laid end to end are the page's text exactly once.
    options = SubmitOptions(chunking=ChunkOptions(tokens=200, overlap=0))
    scrape_urls(load_settings(), [docs_url + p for p in pages], options)
    run_burst(embedder)
    for page in pages:
        records = store_records({"source": docs_url + page})
        chunks = [r["text"] for r in sorted(records, key=lambda r: r["metadata"]["chunk_index"])]
        body = read_page(DOCS / page).body
        assert body is not None
        # Table cells are joined by " | " in the text: compare without the bars.
        whole = squeeze(body.text(deep=True)).replace("|", "")
        joined = squeeze("".join(chunks)).replace("|", "")
        sentences = Counter(
            squeeze(s).replace("|", "")
            for c in chunks
            for s in SENTENCE.split(c)
            if len(squeeze(s)) > 30
        )
        assert len(sentences) > 20
        repeated = [s for s in sentences if joined.count(s) > whole.count(s)]
        assert repeated == [], page
