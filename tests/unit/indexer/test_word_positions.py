"""Word positions kept at indexing: PDFs drawn here with words at known places (a plain page, a
rotated one, a cropped one, two columns, scanned pages that only OCR can read) must give each
word's box where the word was drawn, as fractions of the stored page image, tied to the word's
offsets in the page text (`text[start:end]` is the word). The stored image itself is the second
witness: its ink lies inside the boxes."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from indexer.mupdf import pymupdf
from indexer.ocr import OcrConfig, find_ocr
from indexer.page_content import PageContent
from indexer.pdf_pages import extract_page
from indexer.word_positions import word_boxes

Box = tuple[float, float, float, float]
SIZE = 20  # font size of the text-layer pages


def _pdf(draw: Callable[[pymupdf.Document], None]) -> pymupdf.Document:
    """A one-page PDF as `draw` makes it, saved and opened again as the indexer opens files."""
    doc = pymupdf.open()
    draw(doc)
    return pymupdf.open("pdf", doc.tobytes())


def _placed(content: PageContent) -> dict[str, Box]:
    boxes = {content.text[s:e]: (x0, y0, x1, y1) for s, e, x0, y0, x1, y1 in content.word_boxes}
    assert len(boxes) == len(content.word_boxes)  # the words drawn here are all different
    return boxes


def _ink_outside_boxes(content: PageContent, margin: int = 3) -> int:
    """Dark pixels of the stored image that no word box covers; every box must cover some."""
    dark = np.asarray(Image.open(io.BytesIO(content.image)).convert("L")) < 100
    height, width = dark.shape
    for *_, x0, y0, x1, y1 in content.word_boxes:
        rows = slice(max(0, math.floor(y0 * height) - margin), math.ceil(y1 * height) + margin)
        cols = slice(max(0, math.floor(x0 * width) - margin), math.ceil(x1 * width) + margin)
        assert dark[rows, cols].any(), "a word box over blank paper"
        dark[rows, cols] = False
    return int(dark.sum())


def _width(word: str, size: float = SIZE) -> float:
    return float(pymupdf.get_text_length(word, fontname="helv", fontsize=size))


def _assert_near(got: float, want: float, tolerance: float = 0.005) -> None:
    assert abs(got - want) <= tolerance, (got, want)


def test_text_layer_words_land_where_they_were_drawn() -> None:
    def draw(doc: pymupdf.Document) -> None:
        page = doc.new_page(width=600, height=800)
        page.insert_text((72, 100), "Alpha beta gamma", fontsize=SIZE)
        page.insert_text((300, 500), "delta epsilon", fontsize=SIZE)

    content = extract_page(_pdf(draw), 0, None)
    boxes = _placed(content)
    assert list(boxes) == ["Alpha", "beta", "gamma", "delta", "epsilon"]  # in text order
    x0, y0, x1, y1 = boxes["Alpha"]
    _assert_near(x0, 72 / 600)
    _assert_near(x1, (72 + _width("Alpha")) / 600)
    assert y0 < (100 - 0.7 * SIZE) / 800 and 100 / 800 < y1 < (100 + 0.4 * SIZE) / 800  # around the baseline
    x0, y0, x1, y1 = boxes["epsilon"]
    _assert_near(x0, (300 + _width("delta ")) / 600)
    _assert_near(x1, (300 + _width("delta epsilon")) / 600)
    assert y0 < 500 / 800 < y1
    assert _ink_outside_boxes(content) == 0


def test_a_rotated_page_gets_boxes_on_the_rotated_image() -> None:
    def draw(doc: pymupdf.Document) -> None:
        page = doc.new_page(width=600, height=800)
        page.insert_text((72, 100), "Alpha beta gamma", fontsize=SIZE)
        page.set_rotation(90)  # shown landscape, 800 wide: the line runs down the right side

    content = extract_page(_pdf(draw), 0, None)
    assert content.width > content.height
    x0, y0, x1, y1 = _placed(content)["Alpha"]
    # turned 90° clockwise, a point (x, y) of the page is shown at (800 - y, x)
    _assert_near(y0, 72 / 600)
    _assert_near(y1, (72 + _width("Alpha")) / 600)
    assert x0 < (800 - 100) / 800 < x1 and x1 - x0 < 1.5 * SIZE / 800
    assert _ink_outside_boxes(content) == 0


def test_a_cropped_page_gets_boxes_on_the_crop_box() -> None:
    def draw(doc: pymupdf.Document) -> None:
        page = doc.new_page(width=600, height=800)
        page.insert_text((20, 30), "Outside", fontsize=SIZE)  # cut off by the crop box
        page.insert_text((150, 200), "Inside words", fontsize=SIZE)
        page.set_cropbox(pymupdf.Rect(100, 50, 500, 650))

    content = extract_page(_pdf(draw), 0, None)
    assert "Outside" not in content.text
    x0, y0, x1, y1 = _placed(content)["Inside"]
    _assert_near(x0, (150 - 100) / 400)
    _assert_near(x1, (150 - 100 + _width("Inside")) / 400)
    assert y0 < (200 - 50) / 600 < y1
    assert _ink_outside_boxes(content) == 0


def test_two_columns_keep_each_word_at_its_offset_in_reading_order() -> None:
    def draw(doc: pymupdf.Document) -> None:
        page = doc.new_page(width=600, height=800)
        # the right column is written first: reading order is not the content stream's
        for y, words in ((100, "right one"), (300, "right two")):
            page.insert_text((320, y), words, fontsize=SIZE)
        for y, words in ((100, "left one"), (300, "left two")):
            page.insert_text((50, y), words, fontsize=SIZE)

    content = extract_page(_pdf(draw), 0, None)
    assert content.text.split() == ["left", "one", "left", "two", "right", "one", "right", "two"]
    starts = [s for s, *_ in content.word_boxes]
    assert starts == sorted(starts) and len(starts) == 8
    assert [content.text[s:e] for s, e, *_ in content.word_boxes] == content.text.split()
    assert [x0 > 0.5 for _, _, x0, *_ in content.word_boxes] == [False] * 4 + [True] * 4  # left, then right
    assert _ink_outside_boxes(content) == 0


def test_words_that_do_not_match_their_text_are_left_out_not_misplaced() -> None:
    blocks = [(0.0, 0.0, 100.0, 10.0, "one two\n", 0, 0), (0.0, 20.0, 100.0, 30.0, "three\n", 1, 0)]
    words = [
        (0.0, 0.0, 10.0, 10.0, "one", 0, 0, 0),
        (20.0, 0.0, 30.0, 10.0, "tw0", 0, 0, 1),  # not what the text says here
        (40.0, 0.0, 50.0, 10.0, "extra", 0, 0, 2),  # nothing left for it in its block
        (0.0, 20.0, 10.0, 30.0, "three", 1, 0, 0),
    ]
    text = "one two\nthree"
    boxes = word_boxes(text, blocks, blocks, words, (0.0, 0.0, 100.0, 100.0))
    assert [text[s:e] for s, e, *_ in boxes] == ["one", "three"]
    assert boxes[1][2:] == (0.0, 0.2, 0.1, 0.3)


def _scan(text_lines: list[tuple[float, str]], width: float, height: float) -> bytes:
    """A page of print as a scanner would give it: the lines drawn, then only their picture."""
    source = pymupdf.open()
    page = source.new_page(width=width, height=height)
    for y, line in text_lines:
        page.insert_text((72, y), line, fontsize=28)
    return bytes(page.get_pixmap(dpi=150).tobytes("png"))


@pytest.fixture(scope="module")
def ocr() -> OcrConfig:
    config = find_ocr()
    if config is None:
        pytest.skip("Tesseract is not installed (scripts/setup.sh installs it)")
    return config


LINES = [(200.0, "Scanned words appear here"), (400.0, "Second line of print")]


def _check_scan(content: PageContent, width: float, height: float) -> None:
    assert content.ocr
    boxes = _placed(content)
    for y, line in LINES:
        left = 72.0
        for word in line.split():
            assert word in boxes, (word, content.text)  # Tesseract reads clean print
            x0, y0, x1, y1 = boxes[word]
            _assert_near(x0, left / width, 0.01)
            _assert_near(x1, (left + _width(word, 28)) / width, 0.01)
            assert y0 < (y - 10) / height and (y - 10) / height < y1 <= (y + 10) / height
            left += _width(word + " ", 28)
    assert _ink_outside_boxes(content) == 0


def test_a_scanned_page_gets_tesseracts_word_boxes_from_the_ocr_that_reads_it(ocr: OcrConfig) -> None:
    png = _scan(LINES, 600, 800)

    def draw(doc: pymupdf.Document) -> None:
        page = doc.new_page(width=600, height=800)
        page.insert_image(page.rect, stream=png)

    _check_scan(extract_page(_pdf(draw), 0, ocr), 600, 800)


def test_a_rotated_scanned_page_gets_boxes_on_the_image_as_shown(ocr: OcrConfig) -> None:
    png = _scan(LINES, 800, 600)  # a landscape sheet...

    def draw(doc: pymupdf.Document) -> None:
        page = doc.new_page(width=600, height=800)  # ...stored turned, on a portrait page shown rotated
        page.set_rotation(90)
        page.insert_image(page.mediabox, stream=png, rotate=90)

    content = extract_page(_pdf(draw), 0, ocr)
    assert content.width > content.height
    _check_scan(content, 800, 600)
