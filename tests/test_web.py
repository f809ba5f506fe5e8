"""The web page in a real browser: Debian's chromium, driven by playwright.

Enter a token, drop a PDF, watch its row go from queued to completed with its
progress bar, search a phrase of it and see the hit; a refused file is shown;
nothing scrolls sideways at 375 px or at 1440 px. Screenshots are kept in
test-artifacts/web/.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from apiserver import make_token, start_server
from conftest import FOUR_PAGES, ROOT, corpus

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "web"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed (/usr/bin/chromium): run scripts/setup --dev,"
    " or apt-get install chromium",
)


def _no_sideways_scroll(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def _row(page: Any, source: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = page.evaluate(
        """(source) => {
            for (const row of document.querySelectorAll('#jobs tbody tr')) {
                if (row.cells[0].textContent !== source) continue;
                const bar = row.querySelector('[role=progressbar]');
                return {state: row.cells[1].textContent,
                        progress: Number(bar.getAttribute('aria-valuenow')),
                        width: bar.firstChild.style.width};
            }
            return null;
        }""",
        source,
    )
    return found


def _follow(page: Any, source: str, until: str, timeout: float) -> list[dict[str, Any]]:
    """What the row showed, each time it changed, until its state is ``until``."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _row(page, source)
        if row is not None and (not seen or row != seen[-1]):
            seen.append(row)
        if row is not None and row["state"] == until:
            return seen
        page.wait_for_timeout(50)
    raise AssertionError(f"the row of {source} never showed {until}: {seen}")


def test_drop_follow_and_search_in_a_real_browser(tmp_path: Path, worker_proc: Any) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    token = make_token("alice")
    pdf = corpus(FOUR_PAGES)
    with start_server(tmp_path) as api, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        # The page's CSP forbids eval, which playwright's wait_for_function needs.
        page = browser.new_page(viewport={"width": 1440, "height": 900}, bypass_csp=True)
        page.goto(api.url + "/")
        page.wait_for_selector("#alert:not([hidden])")  # asks for a token, visibly
        page.fill("#token", token)
        page.press("#token", "Enter")  # the keyboard submits it
        page.wait_for_function("document.getElementById('who').textContent.includes('alice')")
        assert page.evaluate("localStorage.getItem('ingestq.token')") == token

        page.set_input_files("#drop input[type=file]", str(pdf))
        queued = _follow(page, pdf.name, "queued", 30)
        assert queued[-1]["progress"] == 0 and queued[-1]["width"] == "0%"
        worker_proc()
        seen = _follow(page, pdf.name, "completed", 180)
        states = [s["state"] for s in queued + seen]
        assert states[0] == "queued" and states[-1] == "completed"
        progress = [s["progress"] for s in queued + seen]
        assert progress == sorted(progress) and progress[-1] == 100
        assert seen[-1]["width"] == "100%"

        page.fill("#q", "Lorem ipsum dolor")
        page.press("#q", "Enter")
        page.wait_for_selector("#results li")
        assert pdf.name in page.inner_text("#results li")

        page.set_input_files(
            "#files",
            files=[
                {
                    "name": "photo.pdf",
                    "mimeType": "application/pdf",
                    "buffer": b"\x89PNG\r\n\x1a\n" + b"0" * 64,
                }
            ],
        )
        page.wait_for_function("document.getElementById('alert').textContent.includes('not a PDF')")
        assert page.is_visible("#alert")

        for width in (1440, 375):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(200)
            assert _no_sideways_scroll(page), f"the page scrolls sideways at {width} px"
            page.screenshot(path=str(ARTIFACTS / f"page-{width}.png"), full_page=True)
        browser.close()
