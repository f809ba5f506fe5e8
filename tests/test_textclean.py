from __future__ import annotations

from ingestq.readers.textclean import Page, drop_running_lines, normalize


def test_nfkc_turns_ligatures_into_letters() -> None:
    assert normalize("ﬁle ﬂow eﬀect") == "file flow effect"


def test_words_hyphenated_at_line_ends_are_joined() -> None:
    assert normalize("the embed-\nding model") == "the embedding model"
    # A capital after the break is a real compound; list dashes stay too.
    assert normalize("Jean-\nPaul") == "Jean-\nPaul"
    assert normalize("items:\n- one\n- two") == "items:\n- one\n- two"


def test_white_space_is_tidied() -> None:
    assert normalize("  a \t b\r\n\n\n\nc  ") == "a b\n\nc"


def _pages(n: int) -> list[Page]:
    return [
        Page(
            i,
            f"Lecture Notes on Topology\nbody text {i} unique {i * 7}\n"
            f"more of page {i}\nPage {i} of {n}",
        )
        for i in range(1, n + 1)
    ]


def test_running_headers_and_footers_are_dropped() -> None:
    out = list(drop_running_lines(_pages(12)))
    assert [p.number for p in out] == list(range(1, 13))
    for page in out:
        assert "Lecture Notes on Topology" not in page.text
        assert "of 12" not in page.text  # numbers differ per page, the line is the same
        assert f"body text {page.number}" in page.text


def test_repeated_lines_in_the_body_are_kept() -> None:
    pages = [
        Page(i, f"Header\nintro {i}\nsee the figure\nsee the figure\nend {i}\nmore {i}")
        for i in range(1, 8)
    ]
    for page in drop_running_lines(pages):
        assert "see the figure" in page.text
        assert "Header" not in page.text


def test_short_documents_are_left_alone() -> None:
    pages = _pages(2)
    assert [p.text for p in drop_running_lines(pages)] == [p.text for p in pages]


def test_streams_page_by_page() -> None:
    pulled = 0

    def source():  # type: ignore[no-untyped-def]
        nonlocal pulled
        for page in _pages(100):
            pulled += 1
            yield page

    stream = drop_running_lines(source())
    next(stream)
    assert pulled < 10, "the first page must come out long before the last is read"


def test_control_characters_from_symbol_fonts_do_not_split_lines() -> None:
    assert normalize("Abbildung \r : [0; 1] \x12X\x00") == "Abbildung : [0; 1] X"
    assert normalize("a\r\nb") == "a\nb"
