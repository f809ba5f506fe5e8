"""Reference pages walked ourselves: the main content region, every entry kept.

trafilatura is tuned for articles. On reference pages (Sphinx API docs,
glossaries, option tables) it drops some definition-list descriptions, "see
also" boxes and table rows, judging them boilerplate. Those are the entries
people search for, so when a page's main region holds definitions that
trafilatura's text lacks, :mod:`ingestq.readers.webpage` uses this walk of the
region instead. The region is the page's own marked main content
(``role="main"``, ``<main>``, a lone ``<article>``, Sphinx's ``div.body``),
which is already free of site navigation; inside it we still skip navigation,
forms, scripts and permalink marks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.html import HtmlElement

#: Where a page marks its main content, most specific first.
REGION_PATHS = (
    "//*[@role='main']",
    "//main",
    "//article",
    "//div[contains(concat(' ', normalize-space(@class), ' '), ' body ')]",
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SKIP = frozenset(
    "script style noscript template nav form button select textarea svg iframe "  # noqa: SIM905
    "object canvas head title".split()
)
_SKIP_ROLES = frozenset({"navigation", "search"})
#: Sphinx's "¶" permalinks and the like: marks, not text.
_SKIP_CLASSES = frozenset({"headerlink"})
_BLOCK = frozenset(
    "address article aside blockquote caption center details dd div dl dt fieldset "  # noqa: SIM905
    "figcaption figure footer header hr legend li main ol p section summary table "
    "tbody tfoot thead ul".split()
)
_SPACE = re.compile(r"\s+")


@dataclass
class Block:
    """A run of text under one heading (``None`` before the first)."""

    heading: str | None
    lines: list[str] = field(default_factory=list)


def parse_tree(html: str) -> HtmlElement | None:
    """The page as an lxml tree, or ``None`` if it holds no elements."""
    import lxml.html
    from lxml import etree

    try:
        return lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None


def find_region(tree: HtmlElement) -> HtmlElement | None:
    """The page's marked main content, if it marks one (and only one article)."""
    for path in REGION_PATHS:
        found = tree.xpath(path)
        if len(found) == 1 or (found and path != "//article"):
            element: HtmlElement = found[0]
            return element
    return None


def definitions(region: HtmlElement) -> list[str]:
    """The text of every definition (``dd``) in the region, white space removed."""
    out = []
    for dd in region.iter("dd"):
        text = "".join(_inline(dd))
        if text.strip():
            out.append(_SPACE.sub("", text))
    return out


def walk(region: HtmlElement) -> list[Block]:
    """The region as blocks of lines, a new block at each heading."""
    writer = _Writer()
    writer.element(region)
    writer.flush()
    return [b for b in writer.blocks if b.lines or b.heading]


def _skipped(element: HtmlElement) -> bool:
    if not isinstance(element.tag, str) or element.tag in _SKIP:
        return True
    if element.get("role") in _SKIP_ROLES or element.get("hidden") is not None:
        return True
    return bool(_SKIP_CLASSES.intersection((element.get("class") or "").split()))


def _inline(element: HtmlElement) -> list[str]:
    """The text inside ``element``, skipped parts left out, as pieces."""
    pieces = [element.text or ""]
    for child in element:
        if not _skipped(child):
            pieces += _inline(child)
        pieces.append(child.tail or "")
    return pieces


def _collapse(pieces: list[str]) -> str:
    return _SPACE.sub(" ", "".join(pieces)).strip()


class _Writer:
    """Turns elements into lines: one per block element, table row or ``<br>``."""

    def __init__(self) -> None:
        self.blocks = [Block(None)]
        self.pending: list[str] = []

    def flush(self) -> None:
        line = _collapse(self.pending)
        self.pending = []
        if line:
            self.blocks[-1].lines.append(line)

    def element(self, element: HtmlElement) -> None:
        tag = element.tag
        if tag in _HEADINGS:
            self.flush()
            self.blocks.append(Block(_collapse(_inline(element)) or None))
        elif tag == "pre":
            self.flush()
            text = "".join(_inline(element))
            self.blocks[-1].lines += [ln.rstrip() for ln in text.strip("\n").split("\n")]
        elif tag == "tr":
            self.flush()
            cells = [_collapse(_inline(c)) for c in element if c.tag in ("td", "th")]
            self.pending = [" | ".join(c for c in cells if c)]
            self.flush()
        elif tag == "br":
            self.flush()
        else:
            self.children(element, tag in _BLOCK)

    def children(self, element: HtmlElement, block: bool) -> None:
        if block:
            self.flush()
        self.pending.append(element.text or "")
        for child in element:
            if not _skipped(child):
                self.element(child)
            self.pending.append(child.tail or "")
        if block:
            self.flush()
