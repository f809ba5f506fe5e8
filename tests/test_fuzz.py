"""Property tests on the parsers of untrusted input: whatever arrives, they answer
with text or one of our errors, within their bounds, and never with a crash."""

from __future__ import annotations

import time
import zlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestq.errors import PermanentJobError
from ingestq.readers.decode import Decoder
from ingestq.readers.textclean import Page
from ingestq.readers.webpage import flatten, parse
from ingestq.webhooks import sign, verify

TAGS = ["div", "p", "span", "section", "article", "main", "ul", "li", "table", "tr", "td",
        "h1", "h2", "dl", "dt", "dd", "b", "i", "a", "script", "style", "br"]  # fmt: skip
WORDS = st.sampled_from(
    ["widget", "café", "naïve", "&amp;", "&lt;", "&#233;", "&#x1F600;", "&bogus;", "<", ">",
     "数据", "ملف", "\u200f", "\x00", "  ", "\n"]
)  # fmt: skip


@st.composite
def html_trees(draw: Any, depth: int = 0) -> str:
    """Random, often broken, HTML: nesting, entities, unclosed tags, huge attributes."""
    if depth > 6 or draw(st.integers(0, 3)) == 0:
        return " ".join(draw(st.lists(WORDS, max_size=8)))
    tag = draw(st.sampled_from(TAGS))
    attrs = draw(st.sampled_from(["", ' class="x"', ' title="' + "a" * 5000 + '"', " data-x=1",
                                  ' style="<div>"', " unquoted=<b>"]))  # fmt: skip
    children = draw(st.lists(html_trees(depth=depth + 1), max_size=4))
    closing = draw(st.sampled_from([f"</{tag}>", f"</{tag}>", "", "</div>"]))
    return f"<{tag}{attrs}>{''.join(children)}{closing}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=html_trees(),
    encoding=st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252"]),
    declared=st.sampled_from([None, "utf-8", "iso-8859-1", "bogus-charset"]),
)
def test_html_to_text_never_crashes(tree: str, encoding: str, declared: str | None) -> None:
    page = f"<html><body><main>{tree}</main></body></html>"
    doc = parse(page.encode(encoding, "replace"), "text/html", declared, "http://example.org/")
    assert isinstance(doc.text, str) and isinstance(doc.title, str | None)


@settings(max_examples=25, deadline=None)
@given(nest=st.integers(0, 50_000), tag=st.sampled_from(["div", "section", "span", "ul"]))
def test_deeply_nested_text_survives(nest: int, tag: str) -> None:
    needle = "The needle paragraph says something about widgets, long enough to be content."
    page = f"<html><body><main>{f'<{tag}>' * nest}<p>{needle}</p>{f'</{tag}>' * nest}"
    started = time.monotonic()
    doc = parse((page + "</main></body></html>").encode(), "text/html", "utf-8", "http://x.org/")
    assert needle in doc.text
    assert time.monotonic() - started < 30  # a guard against a hang, not a benchmark


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("<>/div p!-x"), max_size=300))
def test_flatten_only_removes_tags(markup: str) -> None:
    flat = flatten(markup, max_depth=2)
    # Whatever it drops is whole tags: the text between them stays, in order.
    assert _text_only(flat) == _text_only(markup)


def _text_only(markup: str) -> str:
    import re

    return re.sub(r"<[^>]*>", "", markup)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=html_trees())
def test_chunks_of_any_page_fit_the_model(embedder: Any, tree: str) -> None:
    doc = parse(f"<html><body><main>{tree}</main></body></html>".encode(), "text/html", "utf-8",
                "http://example.org/")  # fmt: skip
    pages = [Page(i + 1, s.text) for i, s in enumerate(doc.sections) if s.text]
    for chunk in embedder.chunker().chunks(pages):
        tokens = len(embedder.tokenizer(chunk.text)["input_ids"])
        assert tokens <= embedder.max_tokens


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=2000),
    encodings=st.sampled_from(["gzip", "deflate", "br", "gzip, gzip", "identity", "br, gzip"]),
)
def test_decoding_any_bytes_is_data_or_one_of_our_errors(data: bytes, encodings: str) -> None:
    try:
        decoder = Decoder(encodings, 10_000, "the test cap")
        out = decoder.feed(data) + decoder.finish()
    except PermanentJobError:
        return
    assert len(out) <= 10_000


@settings(max_examples=50, deadline=None)
@given(size=st.integers(10_001, 2_000_000))
def test_decoding_stops_at_the_cap(size: int) -> None:
    bomb = zlib.compress(b"\0" * size)
    decoder = Decoder("deflate", 10_000, "the test cap")
    try:
        decoder.feed(bomb)
        decoder.finish()
    except PermanentJobError as exc:
        assert "larger than the test cap" in str(exc)
    else:
        raise AssertionError("a body past the cap was decoded")


@settings(max_examples=500, deadline=None)
@given(header=st.one_of(st.none(), st.text(), st.text(alphabet="tv1=,0123456789abcdef é\x00")),
       body=st.one_of(st.binary(max_size=200), st.text(max_size=50)))  # fmt: skip
def test_verify_is_false_for_anything_malformed_and_never_raises(header: Any, body: Any) -> None:
    assert verify(body, header, ["key-one", "key-two"]) is False


@given(body=st.binary(max_size=500), key=st.text(min_size=1, max_size=40))
def test_verify_accepts_what_sign_made(body: bytes, key: str) -> None:
    assert verify(body, sign(body, key), ["other", key]) is True
