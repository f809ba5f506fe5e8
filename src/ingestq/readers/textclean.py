"""Clean extracted page text before it is chunked.

PDF text comes with typesetting artefacts that hurt retrieval: ligature glyphs
("ﬁ"), words hyphenated across line ends, and running headers and footers that
repeat on every page and would otherwise land in every chunk.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# A word broken at a line end: "embed-\nding". Only join when the next line goes
# on in lower case, so "Jean-\nPaul" and list dashes stay as they are.
_HYPHEN_BREAK = re.compile(r"(\w)-[ \t]*\n[ \t]*([a-zà-ÿ])")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_DIGITS = re.compile(r"\d+")
# Math and symbol fonts often map glyphs to control characters; they carry no
# text and a stray carriage return would split a line.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

#: How many lines at the top and the bottom of a page may be a header or footer.
EDGE_LINES = 2
#: Pages either side of a page that vote on its running lines.
WINDOW = 6
#: Share of the pages in the window a line must be on to count as running.
RUNNING_SHARE = 0.6


@dataclass
class Page:
    """The text of one page; ``number`` counts from 1."""

    number: int
    text: str


def normalize(text: str) -> str:
    """NFKC, join hyphenated line breaks, and tidy white space."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n"))
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _line_keys(lines: list[str]) -> list[tuple[int, str]]:
    """(line index, key) for the lines at a page's edges that may be furniture.

    Lines match exactly (case aside). The outermost line of each edge also
    matches with its numbers masked, since that is where page numbers sit
    ("Page 3 of 9"); masking numbers further in would take real text that
    merely shares a shape.
    """
    content = [i for i, ln in enumerate(lines) if ln.strip()]
    edges = sorted(set(content[:EDGE_LINES] + content[-EDGE_LINES:]))
    keys = [(i, lines[i].strip().lower()) for i in edges]
    for i in {content[0], content[-1]} if content else ():
        keys.append((i, "#:" + _DIGITS.sub("#", lines[i].strip().lower())))
    return keys


def _edge_keys(text: str) -> set[str]:
    return {key for _, key in _line_keys(text.split("\n"))}


def _strip_edges(text: str, running: set[str]) -> str:
    lines = text.split("\n")
    drop = {i for i, key in _line_keys(lines) if key in running}
    return "\n".join(ln for i, ln in enumerate(lines) if i not in drop).strip()


def drop_running_lines(pages: Iterable[Page]) -> Iterator[Page]:
    """Remove header and footer lines that repeat across most nearby pages.

    Streams with a window of ``WINDOW`` pages either side, so memory stays flat
    however long the document is, and a header that changes per chapter is still
    found. Documents of fewer than three pages are left alone: with so few
    pages, a repeated line is as likely content as furniture.
    """
    history: deque[set[str]] = deque(maxlen=WINDOW)
    ahead: deque[tuple[Page, set[str]]] = deque()
    source = iter(pages)
    exhausted = False
    while True:
        while not exhausted and len(ahead) <= WINDOW:
            page = next(source, None)
            if page is None:
                exhausted = True
            else:
                ahead.append((page, _edge_keys(page.text)))
        if not ahead:
            return
        page, keys = ahead.popleft()
        window = [*history, keys, *(k for _, k in ahead)]
        history.append(keys)
        if len(window) < 3:
            yield page
            continue
        votes = Counter(key for ks in window for key in ks)
        threshold = max(3, math.ceil(RUNNING_SHARE * len(window)))
        running = {key for key in keys if votes[key] >= threshold}
        yield Page(page.number, _strip_edges(page.text, running)) if running else page
