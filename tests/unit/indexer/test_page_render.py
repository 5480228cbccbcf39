"""Page images fit jina-reranker-m0's pixel budget and keep the page's aspect ratio."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from indexer.render import (
    MAX_PIXELS,
    MIN_PIXELS,
    draws_only_gray,
    encode_image,
    render_page,
    thumbnail,
    to_pil,
    zoom_for_budget,
)


@pytest.mark.parametrize(
    "width, height",
    [
        (595, 842),
        (612, 792),
        (842, 595),
        (2384, 3370),
        (100, 5000),
        (10, 10),
        (1, 1),
        (14400, 14400),
        (3, 2000),
    ],
)
def test_zoom_fits_budget(width: float, height: float) -> None:
    zoom = zoom_for_budget(width, height)
    pixels = math.ceil(width * zoom) * math.ceil(height * zoom)
    assert MIN_PIXELS <= pixels <= MAX_PIXELS
    if width * height * zoom * zoom > MIN_PIXELS * 4:  # not a tiny page pushed up to the minimum
        assert pixels >= MAX_PIXELS * 0.97  # uses the budget, not far below it


@pytest.mark.parametrize(
    "name",
    ["GeoTopo-komprimiert.pdf", "habibi-rotated.pdf", "hostile/xref_command_missing.pdf", "multicolumn.pdf"],
)
def test_rendered_pages_fit_budget_and_keep_aspect(shared_pdfs: Path, name: str) -> None:
    with pymupdf.open(shared_pdfs / name) as doc:
        for page in list(doc)[:4]:
            pix = render_page(page)
            assert pix.width * pix.height <= MAX_PIXELS
            assert pix.width * pix.height >= MAX_PIXELS * 0.95
            assert abs(pix.width / pix.height - page.rect.width / page.rect.height) < 0.01


def test_rotation_is_applied(shared_pdfs: Path) -> None:
    with pymupdf.open(shared_pdfs / "habibi-rotated.pdf") as doc:
        landscape = render_page(doc[0])  # /Rotate 90 on a portrait page
        portrait = render_page(doc[3])  # /Rotate 0
    assert landscape.width > landscape.height
    assert portrait.height > portrait.width


def test_encodings_and_thumbnail(shared_pdfs: Path) -> None:
    with pymupdf.open(shared_pdfs / "pdflatex-4-pages.pdf") as doc:
        img = to_pil(render_page(doc[0]))
    jpeg, fmt = encode_image(img, has_raster=False, fmt="jpeg")
    assert fmt == "jpeg" and jpeg[:2] == b"\xff\xd8"
    png, fmt = encode_image(img, has_raster=False, fmt="png")
    assert fmt == "png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    auto, fmt = encode_image(img, has_raster=True)
    assert fmt == "jpeg" and auto == jpeg  # raster content always goes to JPEG
    thumb = Image.open(io.BytesIO(thumbnail(img)))
    assert thumb.format == "JPEG" and 128 < thumb.width <= 256
    assert abs(thumb.width / thumb.height - img.width / img.height) < 0.02


def test_auto_picks_the_smaller_encoding_for_busy_vector_pages() -> None:
    # A page of sharp-edged vector art: JPEG is large, PNG compresses it far better.
    img = Image.new("RGB", (640, 900), "white")
    for x in range(0, 640, 4):
        img.paste((0, 0, 0) if (x // 4) % 2 else (255, 0, 0), (x, 0, x + 2, 900))
    data, fmt = encode_image(img, has_raster=False)
    other, _ = encode_image(img, has_raster=False, fmt="jpeg" if fmt == "png" else "png")
    assert len(data) <= len(other)


@pytest.mark.parametrize("name", ["GeoTopo-komprimiert.pdf", "cmyk-image.pdf", "annotated_pdf.pdf"])
def test_rgbx_render_is_opaque_and_matches_a_plain_rgb_render(shared_pdfs: Path, name: str) -> None:
    with pymupdf.open(shared_pdfs / name) as doc:
        page = doc[0]
        pix = render_page(page, display_list=page.get_displaylist())
        zoom = zoom_for_budget(page.rect.width, page.rect.height)
        plain = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    assert pix.alpha and min(pix.samples[3 :: pix.n]) >= 250  # opaque white backdrop (± rounding)
    img = to_pil(pix)
    assert img.mode == "RGBX" and img.size == (plain.width, plain.height)
    ours = img.convert("RGB").tobytes()
    diff = sum(abs(a - b) for a, b in zip(ours, plain.samples, strict=True)) / len(ours)
    assert diff < 0.5  # the same page, up to rounding in the blending


def _one_page_pdf(draw: Callable[[pymupdf.Page], None]) -> pymupdf.Document:
    doc = pymupdf.open()
    draw(doc.new_page())
    return pymupdf.open("pdf", doc.tobytes())


def _rgb_image_pdf(rgb: tuple[int, int, int]) -> Callable[[pymupdf.Page], None]:
    def draw(page: pymupdf.Page) -> None:
        buf = io.BytesIO()
        Image.new("RGB", (40, 40), rgb).save(buf, "PNG")
        page.insert_image(pymupdf.Rect(100, 100, 300, 300), stream=buf.getvalue())

    return draw


@pytest.mark.parametrize(
    "draw, gray",
    [
        (lambda p: p.insert_text((72, 72), "black text", color=(0, 0, 0)), True),
        (
            lambda p: p.draw_rect(
                pymupdf.Rect(50, 50, 300, 300), color=(0.3, 0.3, 0.3), fill=(0.8, 0.8, 0.8)
            ),
            True,
        ),
        (lambda p: p.insert_text((72, 72), "dark red text", color=(0.5, 0, 0)), False),
        (lambda p: p.draw_rect(pymupdf.Rect(50, 50, 300, 300), fill=(0.9, 0.9, 1.0)), False),  # a pale tint
        (_rgb_image_pdf((200, 30, 30)), False),
        (_rgb_image_pdf((90, 90, 90)), False),  # images in a colour space count as colour, undecoded
    ],
)
def test_pages_that_draw_only_gray_are_told_apart(draw: Callable[[pymupdf.Page], None], gray: bool) -> None:
    with _one_page_pdf(draw) as doc:
        assert draws_only_gray(doc[0].get_displaylist()) is gray


@pytest.mark.parametrize(
    "name, index, gray",
    [("pdflatex-4-pages.pdf", 0, True), ("multicolumn.pdf", 0, True), ("GeoTopo-komprimiert.pdf", 0, True),
     ("GeoTopo-komprimiert.pdf", 1, False), ("cmyk-image.pdf", 0, False)],
)  # fmt: skip
def test_gray_render_matches_the_colour_render(shared_pdfs: Path, name: str, index: int, gray: bool) -> None:
    with pymupdf.open(shared_pdfs / name) as doc:
        page = doc[index]
        dl = page.get_displaylist()
        assert draws_only_gray(dl) is gray
        colour = np.asarray(to_pil(render_page(page, display_list=dl)).convert("RGB"), dtype=np.int16)
        if gray:  # the colour render really is gray, and the one-channel render is the same picture
            assert int((colour.max(axis=2) - colour.min(axis=2)).max()) <= 6
            one = to_pil(render_page(page, display_list=dl, gray=True))
            assert one.mode == "L" and one.size == (colour.shape[1], colour.shape[0])
            assert int(np.abs(np.asarray(one, dtype=np.int16) - colour.mean(axis=2)).max()) <= 3
        else:
            assert int((colour.max(axis=2) - colour.min(axis=2)).max()) > 20
