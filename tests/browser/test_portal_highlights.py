"""Highlight boxes in the portal: a query's words are boxed on the page image where they were drawn,
on a page with a text layer and on a scanned page read by OCR; n / p step through the boxes; the
"Open PDF" link opens the original at that page. FOLIO_UPDATE_PICTURES=1 also writes the README's
picture of a highlighted page (docs/images/highlighted-page.png)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from indexer.ocr import find_ocr
from tests.browser.stack import REPO, Stack, base_env, run_folio, start_server

pytestmark = pytest.mark.browser

README_PICTURE = REPO / "docs" / "images" / "highlighted-page.png"
WIDTH, HEIGHT = 612, 792  # US Letter, in points
LEFT = 72
FONT = "helv"
TOLERANCE_PT = 4.0  # text-layer boxes follow the font's metrics, OCR boxes the ink


@dataclass(frozen=True)
class Drawn:
    """Where a run of words was drawn, as fractions of the page (what the page image shows)."""

    words: str
    x0: float
    x1: float
    center_y: float  # the middle of the letters, between baseline and ascender
    line_height: float


@dataclass(frozen=True)
class Line:
    text: str
    y: float  # baseline, points from the top
    size: float = 13


REPORT_COVER = [Line("Harbour Authority", 300, 30), Line("Annual report on port operations", 340, 15)]
REPORT_PAGE = [
    Line("Quarterly port operations", 96, 20),
    Line("Cargo volumes rose in the third quarter as two new berths opened", 140),
    Line("on the eastern quay. Vessels waited less at anchor, and the harbour", 159),
    Line("pilots reported fewer delays than in any quarter since records began.", 178),
    Line("Container traffic grew by a tenth, bulk grain by a fifth, while the", 197),
    Line("ferry service kept its timetable through the winter storms.", 216),
    Line("Maintenance", 262, 15),
    Line("Dredging of the approach channel finished in August, two weeks early.", 290),
    Line("The breakwater lights were replaced with longer-lasting lamps, and the", 309),
    Line("crane rails on berth four were relaid after the spring survey.", 328),
    Line("Outlook", 374, 15),
    Line("The harbour dues stay unchanged for the coming year. Work on the new", 402),
    Line("cold store begins in March and should be complete by the autumn.", 421),
]
SCANNED_PAGE = [
    Line("Notice to mariners", 110, 24),
    Line("From the first of May the lighthouse keeper will sound the fog", 170, 15),
    Line("signal every thirty seconds while visibility is below one mile.", 194, 15),
    Line("Small craft should keep clear of the rocks near the old lighthouse", 218, 15),
    Line("on the point, where the channel buoy has been moved north.", 242, 15),
]
GONE_PAGE = [Line("Ferry timetable for the winter season", 120, 16)]


def _draw(page: pymupdf.Page, lines: list[Line]) -> None:
    for line in lines:
        page.insert_text((LEFT, line.y), line.text, fontname=FONT, fontsize=line.size)


def drawn(lines: list[Line], words: str) -> list[Drawn]:
    """Every place `words` was drawn (whole words, case-insensitive)."""
    found = []
    for line in lines:
        for match in re.finditer(rf"\b{re.escape(words)}\b", line.text, re.IGNORECASE):
            x0 = LEFT + pymupdf.get_text_length(line.text[: match.start()], FONT, line.size)
            x1 = x0 + pymupdf.get_text_length(match.group(0), FONT, line.size)
            center = line.y - 0.35 * line.size  # Helvetica: ascenders reach 0.72 of the size
            found.append(Drawn(match.group(0), x0 / WIDTH, x1 / WIDTH, center / HEIGHT, line.size / HEIGHT))
    return found


def make_pdfs(folder: Path) -> dict[str, Path]:
    paths = {name: folder / f"{name}.pdf" for name in ("harbour-report", "scanned-notice", "ferry-timetable")}
    with pymupdf.open() as doc:
        _draw(doc.new_page(width=WIDTH, height=HEIGHT), REPORT_COVER)
        _draw(doc.new_page(width=WIDTH, height=HEIGHT), REPORT_PAGE)
        doc.save(paths["harbour-report"])
    # A scan: the text is drawn, rendered to a gray image, and only the image goes into the PDF.
    with pymupdf.open() as source, pymupdf.open() as doc:
        page = source.new_page(width=WIDTH, height=HEIGHT)
        _draw(page, SCANNED_PAGE)
        pixmap = page.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
        doc.new_page(width=WIDTH, height=HEIGHT).insert_image(
            pymupdf.Rect(0, 0, WIDTH, HEIGHT), pixmap=pixmap
        )
        assert not doc[0].get_text().strip()
        doc.save(paths["scanned-notice"])
    with pymupdf.open() as doc:
        _draw(doc.new_page(width=WIDTH, height=HEIGHT), GONE_PAGE)
        doc.save(paths["ferry-timetable"])
    return paths


@pytest.fixture(scope="module")
def harbour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A server (anonymous access) over a store holding the drawn PDFs; the ferry timetable's
    original is deleted after indexing, so its viewer offers no link."""
    if find_ocr() is None:
        pytest.skip("Tesseract is not installed (scripts/setup.sh --dev installs it)")
    workdir = tmp_path_factory.mktemp("highlights")
    paths = make_pdfs(workdir)
    run_folio(["index", *map(str, paths.values()), "--collection", "harbour"], base_env(workdir))
    paths["ferry-timetable"].unlink()
    stack = start_server(workdir, anonymous=True, name="highlights")
    yield stack
    stack.stop()


def _hit(stack: Stack, query: str, file: str, page_number: int) -> dict[str, Any]:
    with stack.client() as client:
        hits = client.post("/v1/search", json={"query": query, "mode": "bm25", "top_n": 20}).json()["hits"]
    return next(h for h in hits if h["source"].endswith(file) and h["page_number"] == page_number)


def _open_hit(page: Any, hit: dict[str, Any]) -> None:
    page.locator(f"#results .hit[data-page-id='{hit['page_id']}']").click()
    page.wait_for_function(
        "(() => { const i = document.querySelector('#viewer-image');"
        " return i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0; })()"
    )


def _on_screen(page: Any) -> tuple[dict[str, float], list[dict[str, float]]]:
    return page.evaluate(
        """() => {
          const r = (el) => { const b = el.getBoundingClientRect();
                              return { x: b.x, y: b.y, width: b.width, height: b.height }; };
          return [r(document.getElementById('viewer-image')),
                  [...document.querySelectorAll('#viewer-highlights .hl')].map(r)];
        }"""
    )


def assert_boxes_match(page: Any, expected: list[Drawn]) -> None:
    """Each box on screen lies where its words were drawn: the image's rect × the drawn fractions."""
    page.wait_for_function(f"document.querySelectorAll('#viewer-highlights .hl').length === {len(expected)}")
    image, boxes = _on_screen(page)
    assert image["width"] > 100 and image["height"] > 100
    px_x, px_y = image["width"] / WIDTH, image["height"] / HEIGHT  # pixels per point
    for want, box in zip(expected, boxes, strict=True):
        left = image["x"] + want.x0 * image["width"]
        right = image["x"] + want.x1 * image["width"]
        middle = image["y"] + want.center_y * image["height"]
        where = f"{want.words!r}: box {box}, drawn at x {left:.1f}-{right:.1f}, y {middle:.1f}"
        assert abs(box["x"] - left) <= TOLERANCE_PT * px_x, where
        assert abs(box["x"] + box["width"] - right) <= TOLERANCE_PT * px_x, where
        assert abs(box["y"] + box["height"] / 2 - middle) <= TOLERANCE_PT * px_y, where
        line = want.line_height * image["height"]
        assert 0.4 * line <= box["height"] <= 1.8 * line, where


def _current_box(page: Any) -> int:
    boxes = "[...document.querySelectorAll('#viewer-highlights .hl')]"
    return page.evaluate(f"{boxes}.findIndex(b => b.classList.contains('current'))")


def test_text_layer_words_are_boxed_where_they_were_drawn(
    harbour: Stack, open_portal: Any, artifacts_dir: Path
) -> None:
    hit = _hit(harbour, "harbour", "harbour-report.pdf", 2)
    page = open_portal(harbour, path="/?q=harbour&mode=bm25", viewport={"width": 1280, "height": 1100})
    page.wait_for_selector("#results .hit")
    # The thumbnail says how many boxes its page has.
    marker = page.locator(f"#results .hit[data-page-id='{hit['page_id']}'] .thumb-marks")
    assert marker.inner_text() == "2"

    _open_hit(page, hit)
    expected = drawn(REPORT_PAGE, "harbour")
    assert len(expected) == 2
    assert_boxes_match(page, expected)
    # The snippet marks the same word the boxes cover.
    marks = page.locator("#viewer-snippet mark").all_inner_texts()
    assert marks and {m.lower() for m in marks} == {"harbour"}

    # n and p step through the boxes (wrapping), and say where they are.
    assert _current_box(page) == -1
    page.keyboard.press("n")
    assert _current_box(page) == 0
    page.keyboard.press("n")
    assert _current_box(page) == 1
    assert "Match 2 of 2" in page.locator("#match-status").inner_text()
    page.keyboard.press("n")
    assert _current_box(page) == 0
    page.keyboard.press("p")
    assert _current_box(page) == 1

    # "Open PDF at page 2": the original, at that page, with the words for viewers that search.
    link = page.locator("#viewer-pdf")
    link.wait_for(state="visible")
    assert re.fullmatch(r"/v1/documents/[^/#]+/file#page=2&search=harbour", link.get_attribute("href") or "")
    assert "page 2" in link.inner_text()

    page.wait_for_timeout(1300)  # let the flash of the current box settle before the picture
    page.evaluate("document.activeElement.blur()")  # no focus ring on the close button in it
    picture = page.locator("#viewer").screenshot(path=str(artifacts_dir / "highlighted-page.png"))
    if os.environ.get("FOLIO_UPDATE_PICTURES") == "1":
        README_PICTURE.parent.mkdir(parents=True, exist_ok=True)
        README_PICTURE.write_bytes(picture)

    # The boxes stay on their words at another size, and on the document's other page (whose
    # boxes the viewer asks the page route for).
    page.set_viewport_size({"width": 700, "height": 700})
    assert_boxes_match(page, expected)
    page.locator("#viewer-strip [data-page='1']").click()
    page.wait_for_function("document.querySelector('#viewer-image').alt.endsWith('page 1')")
    assert_boxes_match(page, drawn(REPORT_COVER, "harbour"))
    assert (link.get_attribute("href") or "").endswith("#page=1&search=harbour")


def test_scanned_page_words_are_boxed_where_ocr_found_them(harbour: Stack, open_portal: Any) -> None:
    hit = _hit(harbour, "lighthouse keeper", "scanned-notice.pdf", 1)
    page = open_portal(harbour, path="/?q=lighthouse+keeper&mode=bm25")
    page.wait_for_selector("#results .hit")
    _open_hit(page, hit)
    # "lighthouse keeper" side by side on one line is one box; the lone "lighthouse" another.
    together = drawn(SCANNED_PAGE, "lighthouse keeper")
    alone = [d for d in drawn(SCANNED_PAGE, "lighthouse") if d.center_y != together[0].center_y]
    assert len(together) == 1 and len(alone) == 1
    assert_boxes_match(page, together + alone)
    page.keyboard.press("p")  # backwards from no current box: the last one
    assert _current_box(page) == 1


def test_no_boxes_say_why_and_a_missing_original_has_no_link(
    harbour: Stack, open_portal: Any, tmp_path: Path
) -> None:
    # The ferry timetable's original is gone: its page opens without a link to it.
    hit = _hit(harbour, "ferry timetable", "ferry-timetable.pdf", 1)
    page = open_portal(harbour, path="/?q=ferry+timetable&mode=bm25")
    page.wait_for_selector("#results .hit")
    _open_hit(page, hit)
    page.locator("#viewer-strip .strip-page").first.wait_for()
    assert page.locator("#viewer-highlights .hl").count() == 1
    assert not page.locator("#viewer-pdf").is_visible()
    page.keyboard.press("Escape")

    # An image query has no typed words (the first stage searches the words read from it): no
    # boxes, no thumbnail markers, and the viewer says why, quietly.
    query = tmp_path / "query.png"
    with pymupdf.open() as doc:
        picture = doc.new_page(width=400, height=80)
        picture.insert_text((20, 50), "Quarterly port operations", fontname=FONT, fontsize=24)
        picture.get_pixmap(dpi=144).save(query)
    page.fill("#q", "")
    page.set_input_files("#image-pick", str(query))
    page.wait_for_function("document.querySelector('#search-status').textContent.includes('this image')")
    page.wait_for_selector("#results .hit")
    assert page.locator("#results .thumb-marks").count() == 0
    page.locator("#results .hit").first.click()
    page.wait_for_function("document.querySelector('#match-status').textContent.startsWith('No marks')")
    assert page.locator("#viewer-highlights .hl").count() == 0
    assert page.locator("#match-status").evaluate("el => getComputedStyle(el.parentElement).color") == (
        page.locator("#viewer-caption").evaluate("el => getComputedStyle(el).color")
    )
