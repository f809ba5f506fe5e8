"""Web pages to clean text, kept in sections under their headings.

trafilatura finds the main content and drops the boilerplate (navigation,
sidebars, headers, footers, forms, scripts); we ask it for XML so headings stay
structure rather than becoming text. selectolax (Lexbor) reads the title fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ingestq.readers.textclean import normalize

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
#: A permalink mark ending a heading or an entry ("Quickstart¶"), which
#: trafilatura keeps as text; the region walk skips the links themselves.
_PERMALINK = re.compile(r"\s*\u00b6$", re.MULTILINE)
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

#: Elements nested deeper than this are unwrapped, their text kept. Real pages
#: stay far below it; parsers slow down quadratically past it, and libxml2 (under
#: trafilatura) gives up at 256, losing the text.
MAX_DEPTH = 200
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^>]*?(/?)>|<!--")
#: Elements that never hold others, or whose end tag may be left out (so their
#: depth cannot be counted from the source): never counted, never unwrapped.
_UNCOUNTED = frozenset(
    "area base br col embed hr img input link meta param source track wbr "  # noqa: SIM905
    "p li dt dd tr td th option optgroup thead tbody tfoot colgroup rb rt rp rtc".split()
)
_RAW_TEXT = frozenset({"script", "style", "textarea", "title"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})


@dataclass
class Section:
    heading: str | None
    text: str


@dataclass
class WebDocument:
    title: str | None
    final_url: str
    sections: list[Section] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(
            (f"{s.heading}\n{s.text}" if s.heading else s.text).strip() for s in self.sections
        )


def decode(body: bytes, header_charset: str | None, html: bool) -> str:
    """Bytes to text: the HTTP header's charset, then ``<meta charset>``, then detection."""
    candidates = [header_charset]
    if html:
        match = _META_CHARSET.search(body[:4096])
        candidates.append(match.group(1).decode("ascii").lower() if match else None)
    for charset in candidates:
        if charset:
            try:
                return body.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    return str(best) if best is not None else body.decode("utf-8", "replace")


def flatten(html: str, max_depth: int = MAX_DEPTH) -> str:
    """``html`` with the tags nested deeper than ``max_depth`` removed, their text kept.

    One linear pass over the source, before any parser sees it.
    """
    out: list[str] = []
    depth = unwrapped = kept_from = pos = 0
    lowered = html.lower()
    while match := _TAG.search(html, pos):
        pos = match.end()
        if match.group(0) == "<!--":
            end = html.find("-->", pos)
            pos = len(html) if end < 0 else end + 3
            continue
        closing, name = match.group(1), match.group(2).lower()
        if name in _UNCOUNTED or match.group(3):
            continue
        if not closing and name in _RAW_TEXT:
            end = lowered.find(f"</{name}", pos)
            pos = len(html) if end < 0 else end
        if closing and unwrapped:
            unwrapped -= 1
        elif closing:
            depth = max(depth - 1, 0)
            continue
        elif depth < max_depth:
            depth += 1
            continue
        else:
            unwrapped += 1
        out.append(html[kept_from : match.start()])
        kept_from = match.end()
    if not out:
        return html
    out.append(html[kept_from:])
    return "".join(out)


def title_of(html: str) -> str | None:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for selector in ("title", "h1"):
        node = tree.css_first(selector)
        text = " ".join((node.text(deep=True) or "").split()) if node is not None else ""
        if text:
            return text
    return None


def html_sections(html: str, url: str) -> list[Section]:
    """The main content as sections, each under its nearest heading.

    trafilatura's reading of the page, unless the page's main region holds
    definitions that reading lost: then the region, walked by :mod:`region`.
    """
    from ingestq.readers import region

    sections = _extracted_sections(html, url)
    tree = region.parse_tree(html)
    area = region.find_region(tree) if tree is not None else None
    wanted = [_squeeze(normalize(d)) for d in region.definitions(area)] if area is not None else []
    if wanted:
        have = _squeeze("".join(f"{s.heading or ''}{s.text}" for s in sections))
        if any(d not in have for d in wanted):
            blocks = region.walk(area)
            return [Section(b.heading, normalize("\n".join(b.lines))) for b in blocks]
    return sections


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _extracted_sections(html: str, url: str) -> list[Section]:
    """trafilatura's main content as sections."""
    import trafilatura
    from lxml import etree

    xml = trafilatura.extract(
        html,
        url=url,
        output_format="xml",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
    )
    if not xml:
        return []
    root = etree.fromstring(xml.encode("utf-8"))
    sections = [Section(None, "")]
    main = root.find("main")
    for element in main if main is not None else root:
        text = _PERMALINK.sub("", normalize("\n".join(_lines(element))))
        if not text:
            continue
        if element.tag == "head":
            sections.append(Section(text, ""))
        else:
            last = sections[-1]
            last.text = f"{last.text}\n{text}" if last.text else text
    return [s for s in sections if s.text or s.heading]


def _lines(element: Any) -> list[str]:
    """An element of trafilatura's XML as lines; a list's items each once.

    An item's own text excludes the lists nested in it, which follow as lines
    of their own (iterating every item and taking all its text repeated them).
    """
    if element.tag != "list":
        return [" ".join("".join(element.itertext()).split())]
    lines = []
    for item in element.iterchildren("item"):
        own = [item.text or ""]
        nested: list[str] = []
        for child in item:
            if child.tag == "list":
                nested += _lines(child)
            else:
                own += [*child.itertext()]
            own.append(child.tail or "")
        lines += [" ".join("".join(own).split()), *nested]
    return lines


def text_sections(text: str, markdown: bool) -> list[Section]:
    """Plain text is one section; Markdown is split at its ATX headings."""
    if not markdown:
        return [Section(None, normalize(text))] if text.strip() else []
    sections = [Section(None, "")]
    for line in text.splitlines():
        match = _MD_HEADING.match(line)
        if match:
            sections.append(Section(match.group(1), ""))
        else:
            sections[-1].text += line + "\n"
    out = [Section(s.heading, normalize(s.text)) for s in sections]
    return [s for s in out if s.text or s.heading]


def parse(body: bytes, content_type: str, charset: str | None, url: str) -> WebDocument:
    """A fetched HTML or text body as a :class:`WebDocument`."""
    if content_type in HTML_TYPES:
        html = flatten(decode(body, charset, html=True))
        return WebDocument(title=title_of(html), final_url=url, sections=html_sections(html, url))
    text = decode(body, charset, html=False)
    markdown = content_type != "text/plain"
    sections = text_sections(text, markdown)
    title = next((s.heading for s in sections if s.heading), None)
    return WebDocument(title=title, final_url=url, sections=sections)
