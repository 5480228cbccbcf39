"""One PDF into pages: open with a one-line reason on failure, then per page the rendered image,
thumbnail, reading-order text (OCR'd when there is no text layer), where its words are on the
image (indexer.word_positions), language and figure flag."""

from __future__ import annotations

from pathlib import Path

from indexer.mupdf import pymupdf
from indexer.ocr import OcrConfig, ocr_textpage
from indexer.page_content import PageContent, PdfProbe
from indexer.render import (
    MAX_PIXELS,
    ImageFormat,
    draws_only_gray,
    encode_image,
    render_page,
    thumbnail,
    to_pil,
)
from indexer.text import Block, blocks_text, choose_title, detect_language, reading_order_text, text_blocks
from indexer.word_positions import word_boxes

# One extraction pass yields text blocks (type 0), image blocks (1) and vector blocks (3).
BLOCK_FLAGS = pymupdf.TEXTFLAGS_BLOCKS | pymupdf.TEXT_PRESERVE_IMAGES | pymupdf.TEXT_COLLECT_VECTORS


__all__ = ["UnreadablePdf", "extract_page", "open_pdf", "probe_pdf"]


class UnreadablePdf(Exception):
    """The file cannot be indexed at all; str(exc) is the one-line reason."""


def open_pdf(path: str | Path, data: bytes | None = None) -> pymupdf.Document:
    """Open a PDF, or raise UnreadablePdf with a short reason: encrypted, damaged or empty.
    Files encrypted with an empty user password open normally (MuPDF tries it) and are indexed.
    `data`, when given, is the file's content, read elsewhere (a Ray driver ships the bytes, not
    the path); `path` then only names it. The reasons are the same either way."""
    path = Path(path)
    try:
        if (len(data) if data is not None else path.stat().st_size) == 0:
            raise UnreadablePdf("empty (zero-byte file)")
        if data is not None:
            doc = pymupdf.open(stream=data, filetype="pdf")
        else:
            doc = pymupdf.open(str(path), filetype="pdf")
    except UnreadablePdf:
        raise
    except Exception as exc:  # MuPDF raises FileDataError, RuntimeError, ValueError… for bad files
        raise UnreadablePdf(f"damaged (cannot be opened: {_short(exc)})") from None
    if doc.needs_pass:
        doc.close()
        raise UnreadablePdf("encrypted (password required)")
    try:
        count = doc.page_count
    except Exception as exc:
        doc.close()
        raise UnreadablePdf(f"damaged (page tree unreadable: {_short(exc)})") from None
    if count == 0:
        doc.close()
        raise UnreadablePdf("empty (no pages; the page tree is missing or damaged)")
    return doc


def probe_pdf(path: str | Path, data: bytes | None = None) -> PdfProbe:
    """Page count and title (metadata title, else the first line of page 1, else the file stem)."""
    doc = open_pdf(path, data)
    try:
        try:
            meta_title = (doc.metadata or {}).get("title")
        except Exception:  # a corrupt /Info or /Metadata object must not sink the file
            meta_title = None
        first_text = ""
        try:
            first_text = reading_order_text(doc.load_page(0))
        except Exception:
            pass
        return PdfProbe(
            page_count=doc.page_count, title=choose_title(meta_title, first_text, Path(path).stem)
        )
    finally:
        doc.close()


def extract_page(
    doc: pymupdf.Document,
    index: int,
    ocr: OcrConfig | None,
    max_pixels: int = MAX_PIXELS,
    image_format: ImageFormat = "auto",
) -> PageContent:
    page = doc.load_page(index)
    # One interpretation of the content stream feeds both the text and the image (get_text and
    # get_pixmap would each parse it again). Its coordinates are the rotated page's, like page.rect.
    display_list = page.get_displaylist()
    textpage = pymupdf.TextPage(display_list.get_textpage(flags=BLOCK_FLAGS))
    blocks = textpage.extractBLOCKS()
    has_raster, has_figures = _figure_flags(blocks, page.rect)
    ordered = text_blocks(blocks, page.rect.width)
    text = blocks_text(ordered)
    used_ocr = needs_ocr = False
    if len(text) < 3 and (has_raster or has_figures):  # no text layer, but something is drawn
        if ocr is not None:
            textpage = ocr_textpage(page, ocr)
            blocks = textpage.extractBLOCKS()
            ordered = text_blocks(blocks, page.rect.width)
            text = blocks_text(ordered)
            used_ocr = True
        else:
            needs_ocr = True
    frame = tuple(display_list.rect)  # what the render draws, in the text pages' coordinates
    boxes = word_boxes(text, blocks, ordered, textpage.extractWORDS(), frame) if text else []
    pix = render_page(page, max_pixels, display_list, gray=draws_only_gray(display_list))
    img = to_pil(pix)
    image, fmt = encode_image(img, has_raster, image_format)
    return PageContent(
        page_number=index + 1,
        text=text,
        ocr=used_ocr,
        needs_ocr=needs_ocr,
        has_figures=has_figures,
        language=detect_language(text),
        image=image,
        image_format=fmt,
        thumbnail=thumbnail(img),
        width=pix.width,
        height=pix.height,
        word_boxes=boxes,
    )


def _figure_flags(blocks: list[Block], rect: pymupdf.Rect) -> tuple[bool, bool]:
    """(has raster images, has figures). Figures are images or vector drawings of some size;
    thin rules (underlines, fraction bars, table lines) alone do not count."""
    area = max(rect.width * rect.height, 1.0)
    image_area = path_area = 0.0
    paths = 0
    for x0, y0, x1, y1, _text, _no, kind in blocks:
        w, h = x1 - x0, y1 - y0
        if kind == 1:
            image_area += max(w, 0) * max(h, 0)
        elif kind == 3 and w > 2 and h > 2:
            paths += 1
            path_area += w * h
    has_raster = image_area > area * 0.005
    return has_raster, has_raster or path_area > area * 0.02 or paths >= 20


def _short(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    # MuPDF's message for a file repeats the whole path; the one for bytes says "stream"
    if msg.startswith(("Failed to open file", "Failed to open stream")):
        return "no readable PDF structure"
    return msg[:160]
