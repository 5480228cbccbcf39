"""The portal by keyboard alone: reach the search box, run a search, open a hit, move through the
document, close the viewer and land back where one was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import Stack

pytestmark = pytest.mark.browser

ACTIVE = "(() => { const a = document.activeElement; return a ? (a.id || a.className) : ''; })()"


def test_keyboard_only_search_and_viewer(portal: Stack, open_portal: Any) -> None:
    page = open_portal(portal, key=portal.keys["team-a"])
    page.wait_for_function("document.querySelector('#account-status').textContent.includes('team-a')")
    page.locator("body").click(position={"x": 5, "y": 300})  # focus away from the search box
    page.keyboard.press("/")
    assert page.evaluate(ACTIVE) == "q"
    page.keyboard.type("text")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .hit")

    # Tab moves from the search box through the form's controls to the first hit.
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('hit')"):
            break
    assert page.evaluate("document.activeElement.classList.contains('hit')"), page.evaluate(ACTIVE)
    opener = page.evaluate("document.activeElement.dataset.pageId")
    # Focus is visible: the focus ring is drawn.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").endswith("Open page")

    page.keyboard.press("Enter")
    assert page.locator("#viewer").is_visible()
    assert page.evaluate("document.activeElement.closest('dialog')?.id") == "viewer"

    # Tab and Shift+Tab stay inside the dialog.
    page.locator("#viewer-strip .strip-page").first.wait_for()
    for key in ["Tab"] * 8 + ["Shift+Tab"] * 12:
        page.keyboard.press(key)
        assert page.evaluate("document.activeElement.closest('dialog')?.id") == "viewer"

    # Arrow keys step through the document's pages.
    page.locator("#viewer-close").focus()
    pages = page.locator("#viewer-strip .strip-page").count()
    assert pages >= 2
    start = int(page.locator("#viewer-strip [aria-current='page']").get_attribute("data-page") or "0")
    page.keyboard.press("ArrowRight" if start < pages else "ArrowLeft")
    moved = int(page.locator("#viewer-strip [aria-current='page']").get_attribute("data-page") or "0")
    assert moved == (start + 1 if start < pages else start - 1)

    # Escape closes it and focus returns to the hit that opened it.
    page.keyboard.press("Escape")
    assert not page.locator("#viewer").is_visible()
    assert page.evaluate("document.activeElement.dataset.pageId") == opener


def test_narrow_screen_layout(portal: Stack, open_portal: Any, artifacts_dir: Path) -> None:
    page = open_portal(portal, key=portal.keys["team-a"], viewport={"width": 390, "height": 800})
    page.fill("#q", "lorem ipsum")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .hit")
    # No horizontal scrolling on a phone-sized screen, and the hits stack in at most two columns.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    columns = page.evaluate(
        "getComputedStyle(document.getElementById('results')).gridTemplateColumns.split(' ').length"
    )
    assert 1 <= columns <= 2
    page.screenshot(path=str(artifacts_dir / "portal-results-narrow.png"))
