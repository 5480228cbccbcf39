"""Opening PDFs with one-line reasons, and what a page yields (text, OCR, figures, language)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from indexer.ocr import find_ocr
from indexer.pdf_pages import UnreadablePdf, extract_page, open_pdf, probe_pdf
from indexer.render import MAX_PIXELS


@pytest.mark.parametrize(
    "name, reason",
    [
        ("libreoffice-writer-password.pdf", "encrypted (password required)"),
        ("crazyones-encrypted-256.pdf", "encrypted (password required)"),
        ("hostile/poppler-742-0-fuzzed.pdf", "damaged (cannot be opened: no readable PDF structure)"),
        ("hostile/GHOSTSCRIPT-698804-1-fuzzed.pdf", "empty (no pages; the page tree is missing or damaged)"),
        ("hostile/poppler-395-0-fuzzed.pdf", "empty (no pages; the page tree is missing or damaged)"),
    ],
)
def test_unreadable_reasons(shared_pdfs: Path, name: str, reason: str) -> None:
    with pytest.raises(UnreadablePdf) as info:
        open_pdf(shared_pdfs / name)
    assert str(info.value) == reason
    assert "\n" not in str(info.value)


def test_zero_byte_and_non_pdf_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(UnreadablePdf, match=r"^empty \(zero-byte file\)$"):
        open_pdf(empty)
    text = tmp_path / "not-really.pdf"
    text.write_text("just some text, no PDF here\n" * 10)
    with pytest.raises(UnreadablePdf, match=r"^damaged"):
        open_pdf(text)


def test_empty_user_password_is_opened(shared_pdfs: Path) -> None:
    probe = probe_pdf(shared_pdfs / "encrypted_doc_no_id.pdf")
    assert probe.page_count == 3


def test_text_page(shared_pdfs: Path) -> None:
    page = extract_page(open_pdf(shared_pdfs / "GeoTopo-komprimiert.pdf"), 5, None)
    assert page.page_number == 6
    assert page.language == "de"
    assert len(page.text) > 200 and not page.ocr and not page.needs_ocr
    assert page.width * page.height <= MAX_PIXELS
    assert page.image[:2] == b"\xff\xd8" or page.image[:4] == b"\x89PNG"
    assert page.thumbnail[:2] == b"\xff\xd8"


@pytest.mark.parametrize("name, index, mode", [("GeoTopo-komprimiert.pdf", 0, "L"), ("GeoTopo-komprimiert.pdf", 1, "RGB"),
                                               ("pdflatex-4-pages.pdf", 1, "L"), ("cmyk-image.pdf", 0, "RGB")])  # fmt: skip
def test_pages_that_draw_only_gray_are_stored_gray(
    shared_pdfs: Path, name: str, index: int, mode: str
) -> None:
    page = extract_page(open_pdf(shared_pdfs / name), index, None)
    image, thumb = Image.open(io.BytesIO(page.image)), Image.open(io.BytesIO(page.thumbnail))
    assert (image.mode, thumb.mode) == (mode, mode)
    assert image.size == (page.width, page.height)


def test_figures(shared_pdfs: Path) -> None:
    assert extract_page(open_pdf(shared_pdfs / "cmyk-image.pdf"), 0, None).has_figures  # full-page image
    assert extract_page(open_pdf(shared_pdfs / "pdflatex-image.pdf"), 0, None).has_figures  # embedded JPEG
    assert not extract_page(open_pdf(shared_pdfs / "minimal-document.pdf"), 0, None).has_figures  # text only


def test_scanned_page_without_ocr_is_flagged(shared_pdfs: Path) -> None:
    page = extract_page(open_pdf(shared_pdfs / "encrypted_doc_no_id.pdf"), 1, None)
    assert page.text == "" and page.needs_ocr and not page.ocr


def test_blank_page_needs_no_ocr(shared_pdfs: Path) -> None:
    page = extract_page(open_pdf(shared_pdfs / "encrypted_doc_no_id.pdf"), 0, None)  # page 1 is blank
    assert page.text == "" and not page.needs_ocr and not page.has_figures


def test_ocr_reads_a_scan(shared_pdfs: Path) -> None:
    ocr = find_ocr()
    if ocr is None:
        pytest.skip("Tesseract is not installed (scripts/setup.sh installs it)")
    page = extract_page(open_pdf(shared_pdfs / "encrypted_doc_no_id.pdf"), 1, ocr)
    assert page.ocr and not page.needs_ocr
    assert "WO 2003/036426" in page.text  # the patent number printed on the scanned sheet
    assert page.language == "en"
