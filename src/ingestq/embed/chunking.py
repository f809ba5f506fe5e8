"""Split page text into chunks that fit the embedding model, measured in its tokens.

A sentence-transformers model reads at most ``max_seq_length`` word pieces,
special tokens included, and silently drops the rest. So chunks are sized with
the model's own tokenizer, and cut only between words: a cut inside a word
could re-tokenize into more pieces than it counted as. Each chunk keeps the
original text (not decoded tokens) and the pages it spans.

Chunks resynchronise at page breaks, so an edit stays local. A page long
enough to have been cut keeps its tail to itself (the tail still overlaps the
chunk before it), and so does any chunk that has reached a quarter of the
size; only short pages (a title page, a heading) run on into the next one.
Without that, one word added on page 5 would shift every later cut, and a
re-ingest could reuse none of the vectors after it (see ``pipeline``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ingestq.readers.textclean import Page

#: Default overlap between neighbouring chunks, as a share of the chunk size.
OVERLAP_SHARE = 0.125

#: A chunk at least this share of the size ends at a page break.
PAGE_BREAK_SHARE = 0.25


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    page_start: int
    page_end: int
    tokens: int


@dataclass(frozen=True)
class _Word:
    """A run of text the tokenizer never splits across: the unit we cut between."""

    page: Page
    start: int
    end: int
    tokens: int


def limits_for(
    max_seq_length: int, special_tokens: int, tokens: int | None, overlap: int | None
) -> tuple[int, int]:
    """Content tokens per chunk and overlap, clamped to what the model reads.

    A size larger than the model reads is clamped, and an overlap given with
    it shrinks in proportion, so it stays the same share of the chunk. The
    overlap is always less than half the chunk: more would repeat more than
    each chunk moves on.
    """
    ceiling = max_seq_length - special_tokens
    size = ceiling if tokens is None else min(tokens, ceiling)
    if overlap is None:
        lap = round(size * OVERLAP_SHARE)
    elif tokens is not None and tokens > size:
        lap = overlap * size // tokens
    else:
        lap = overlap
    return size, max(0, min(lap, (size - 1) // 2))


class TokenChunker:
    """Chunks of at most ``max_tokens`` content tokens, overlapping by ``overlap``.

    ``tokenizer`` is a ``tokenizers.Tokenizer`` that neither truncates nor pads
    (see :mod:`ingestq.embed.tokens`).
    """

    def __init__(self, tokenizer: Any, max_tokens: int, overlap: int) -> None:
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.break_at = max(1, round(max_tokens * PAGE_BREAK_SHARE))

    def _words(self, page: Page) -> Iterator[_Word]:
        enc = self.tokenizer.encode(page.text, add_special_tokens=False)
        offsets, word_ids = enc.offsets, enc.word_ids
        run_start = 0
        for i, word_id in enumerate(word_ids):
            last = i + 1 == len(word_ids) or word_ids[i + 1] != word_id
            if last:
                yield from self._fit(page, offsets[run_start][0], offsets[i][1], i + 1 - run_start)
                run_start = i + 1

    def _fit(self, page: Page, start: int, end: int, tokens: int) -> Iterator[_Word]:
        # A "word" longer than a whole chunk (a base64 blob, a run of digits)
        # is split by characters until each piece re-tokenizes short enough.
        if tokens <= self.max_tokens:
            yield _Word(page, start, end, tokens)
            return
        middle = (start + end) // 2
        for lo, hi in ((start, middle), (middle, end)):
            piece = self._count(page.text[lo:hi])
            yield from self._fit(page, lo, hi, piece)

    def _count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def chunks(self, pages: Iterable[Page]) -> Iterator[Chunk]:
        """Stream chunks; only the pages under the current window stay in memory."""
        window: deque[_Word] = deque()
        tokens = 0
        index = 0
        cut_on_page = False
        for page in pages:
            if window and (cut_on_page or tokens >= self.break_at):
                # No overlap across the break: the next page starts afresh,
                # exactly as it did in the previous version of the document.
                yield self._emit(index, window)
                index += 1
                window.clear()
                tokens = 0
            cut_on_page = False
            for word in self._words(page):
                if tokens + word.tokens > self.max_tokens and window:
                    yield self._emit(index, window)
                    index += 1
                    cut_on_page = True
                    tokens = self._keep_overlap(window, room=self.max_tokens - word.tokens)
                window.append(word)
                tokens += word.tokens
        # A chunk is emitted only when a new word arrives, so whatever the window
        # holds now includes words no chunk has carried yet.
        if window:
            yield self._emit(index, window)

    def _keep_overlap(self, window: deque[_Word], room: int) -> int:
        """Drop words from the front until the tail fits the overlap; return its tokens."""
        keep = min(self.overlap, room)
        total = sum(w.tokens for w in window)
        while window and total > keep:
            total -= window.popleft().tokens
        return total

    @staticmethod
    def _emit(index: int, window: deque[_Word]) -> Chunk:
        parts: list[str] = []
        first = window[0]
        seg_start = first.start
        prev = first
        for word in window:
            if word.page is not prev.page:
                parts.append(prev.page.text[seg_start : prev.end])
                seg_start = word.start
            prev = word
        parts.append(prev.page.text[seg_start : prev.end])
        return Chunk(
            index=index,
            text="\n".join(parts),
            page_start=first.page.number,
            page_end=prev.page.number,
            tokens=sum(w.tokens for w in window),
        )
