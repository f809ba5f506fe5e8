"""The chunker never exceeds what the model reads, overlaps as asked, maps pages right."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestq.embed.chunking import Chunk, limits_for
from ingestq.readers.textclean import Page

WORDS = [
    "retry",
    "backoff",
    "embedding",
    "Mannigfaltigkeit",
    "naïve",
    "ﬁle",
    "x" * 40,
    "3.14159",
    "über-",
    "日本語",
    "—",
    "(a)",
    "https://example.org/a?b=c",
    "co-operate",
]


def model_tokens(embedder: Any, text: str) -> int:
    """How many tokens the model sees for ``text``, special tokens included."""
    return len(embedder.tokenizer(text)["input_ids"])


def chunk_pages(
    embedder: Any, pages: list[str], tokens: int | None = None, overlap: int | None = None
) -> list[Chunk]:
    chunker = embedder.chunker(tokens, overlap)
    return list(chunker.chunks(Page(i + 1, t) for i, t in enumerate(pages)))


page_text = st.lists(st.sampled_from(WORDS), min_size=0, max_size=400).map(" ".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pages=st.lists(page_text, min_size=1, max_size=4),
    size=st.sampled_from([None, 32, 100, 1000]),
    overlap=st.sampled_from([None, 0, 10]),
)
def test_no_chunk_is_ever_truncated_by_the_model(
    embedder: Any, pages: list[str], size: int | None, overlap: int | None
) -> None:
    for chunk in chunk_pages(embedder, pages, size, overlap):
        assert model_tokens(embedder, chunk.text) <= embedder.max_tokens
        if size is not None:
            # Content tokens (without [CLS]/[SEP]) stay within the asked size.
            assert model_tokens(embedder, chunk.text) - 2 <= size


def test_default_size_fills_the_model_and_counts_special_tokens(embedder: Any) -> None:
    assert embedder.max_tokens == 256  # from SentenceTransformer, not the tokenizer's 512
    assert embedder.special_tokens == 2
    chunker = embedder.chunker()
    assert chunker.max_tokens == 254
    text = " ".join(["retrieval"] * 2000)
    chunks = chunk_pages(embedder, [text])
    assert max(model_tokens(embedder, c.text) for c in chunks) == 256


def test_asked_size_is_clamped_to_what_the_model_reads() -> None:
    # A clamped size keeps the overlap's share of the chunk (#12: 512/256 made
    # 1,911 chunks where the default makes 15, with the overlap left at 253).
    assert limits_for(256, 2, 10_000, 50) == (254, 1)
    assert limits_for(256, 2, 512, 128) == (254, 63)
    assert limits_for(256, 2, 100, None) == (100, 12)
    # Never half the chunk or more, however asked.
    assert limits_for(256, 2, 100, 500) == (100, 49)
    assert limits_for(256, 2, None, 200) == (254, 126)


def test_a_clamped_size_with_a_large_overlap_makes_as_many_chunks_as_the_default(
    embedder: Any,
) -> None:
    text = " ".join(f"word{i}" for i in range(3000))
    default = chunk_pages(embedder, [text])
    asked = chunk_pages(embedder, [text], tokens=512, overlap=200)
    assert len(asked) <= 2 * len(default)


def test_chunks_overlap_by_about_the_asked_tokens(embedder: Any) -> None:
    words = [f"w{i}" for i in range(3000)]  # unique words make overlaps measurable
    chunks = chunk_pages(embedder, [" ".join(words)], tokens=60, overlap=20)
    assert len(chunks) > 10
    for prev, nxt in itertools.pairwise(chunks):
        tail, head = prev.text.split(), nxt.text.split()
        shared = len(set(tail) & set(head))
        assert shared > 0, "neighbouring chunks must share their boundary words"
        shared_tokens = model_tokens(embedder, " ".join(head[:shared])) - 2
        assert 14 <= shared_tokens <= 20


def test_zero_overlap_means_disjoint_chunks_covering_all_words(embedder: Any) -> None:
    words = [f"w{i}" for i in range(1500)]
    chunks = chunk_pages(embedder, [" ".join(words)], tokens=50, overlap=0)
    seen = [w for c in chunks for w in c.text.split()]
    assert seen == words


def test_chunks_know_their_pages_and_keep_original_text(embedder: Any) -> None:
    pages = [f"Page{n} " + " ".join(f"Naïve-Wort{n}x{i}" for i in range(120)) for n in (1, 2, 3)]
    chunks = chunk_pages(embedder, pages, tokens=200, overlap=0)
    for chunk in chunks:
        assert 1 <= chunk.page_start <= chunk.page_end <= 3
        for part in chunk.text.split("\n"):
            # Original casing and accents, verbatim from a page: not decoded tokens.
            assert any(part in p for p in pages[chunk.page_start - 1 : chunk.page_end])
        for n in range(chunk.page_start, chunk.page_end + 1):
            assert f"Wort{n}x" in chunk.text
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert "Naïve" in chunks[0].text


def test_long_pages_keep_their_chunks_and_short_pages_run_on(embedder: Any) -> None:
    long_page = " ".join(f"long{i}" for i in range(400))
    pages = ["Title page", "A short preface.", long_page, long_page, "The end."]
    chunks = chunk_pages(embedder, pages, tokens=100, overlap=10)
    # The title and preface (far under a quarter chunk) join the first long page.
    assert chunks[0].page_start == 1 and chunks[0].page_end == 3
    assert chunks[0].text.startswith("Title page\nA short preface.\nlong0 ")
    # A page that was cut ends its own last chunk: the next page starts afresh.
    page3 = [c for c in chunks if c.page_start == 3]
    page4 = [c for c in chunks if c.page_start == 4]
    assert all(c.page_end == 3 for c in page3[1:])
    assert page4[0].text.startswith("long0 ") and page4[-1].page_end == 4
    assert (chunks[-1].page_start, chunks[-1].text) == (5, "The end.")


def test_an_edit_on_one_page_leaves_other_pages_chunks_alone(embedder: Any) -> None:
    def page(n: int) -> str:
        return " ".join(f"p{n}w{i}" for i in range(150 + 37 * n))

    before = [page(n) for n in range(1, 9)]
    after = list(before)
    after[3] = after[3].replace("p4w20 ", "p4w20 an inserted clause of several words ")
    old = chunk_pages(embedder, before, tokens=120)
    new = chunk_pages(embedder, after, tokens=120)
    assert len(old) > 16
    changed = {c.text for c in new} - {c.text for c in old}
    assert changed, "the edit must show in some chunk"
    for chunk in new:
        if chunk.text in changed:
            assert chunk.page_start <= 4 <= chunk.page_end
    untouched = [c for c in old if not c.page_start <= 4 <= c.page_end]
    assert {c.text for c in untouched} <= {c.text for c in new}


def test_a_word_longer_than_a_chunk_is_split_not_dropped(embedder: Any) -> None:
    blob = "QmFzZTY0" * 300  # one 2,400-character "word"
    chunks = chunk_pages(embedder, [f"start {blob} end"], tokens=64, overlap=0)
    assert "".join(c.text for c in chunks).replace("\n", "").replace(" ", "") == f"start{blob}end"
    assert all(model_tokens(embedder, c.text) - 2 <= 64 for c in chunks)


@pytest.mark.parametrize("pages", [[], [""], ["   \n  "]])
def test_no_text_gives_no_chunks(embedder: Any, pages: list[str]) -> None:
    assert chunk_pages(embedder, pages) == []
