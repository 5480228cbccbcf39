"""Reading order, language guess and title choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.pdf_pages import open_pdf, probe_pdf
from indexer.text import choose_title, detect_language, order_blocks, reading_order_text, usable_title


@pytest.mark.parametrize(
    "text, lang",
    [
        ("The reranker scores each page and the results are sorted by relevance for the user.", "en"),
        ("Die Ergebnisse werden mit einem Reranker neu sortiert, und das ist nicht langsam.", "de"),
        ("Les résultats de la recherche sont triés par pertinence pour une meilleure qualité.", "fr"),
        ("搜索结果如何重新排序", "zh"),
        ("検索結果の再ランキングはこうします", "ja"),
        ("검색 결과는 어떻게 다시 정렬됩니까", "ko"),
        ("مرحبا بالعالم هذا نص عربي", "ar"),
        ("Привет, мир, это русский текст", "ru"),
        ("สวัสดีชาวโลก", "th"),
        ("", ""),
        ("12 34 56", ""),
        ("A Note on Approximating e^x", ""),  # Portuguese "a", "e" against English "on": too close to tell
        ("Preliminary Report-International Algebraic Language", ""),  # no stop words at all
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_two_columns_read_column_by_column() -> None:
    width = 600.0
    full = (50, 40, 550, 60, "Title", 0, 0)
    left = [(50, 100 + 50 * i, 290, 140 + 50 * i, f"L{i}", 0, 0) for i in range(3)]
    right = [(310, 100 + 50 * i, 550, 140 + 50 * i, f"R{i}", 0, 0) for i in range(3)]
    footer = (50, 800, 550, 820, "Footer", 0, 0)
    blocks = [right[0], left[0], right[1], left[1], footer, right[2], left[2], full]
    order = [b[4] for b in order_blocks(blocks, width)]
    assert order == ["Title", "L0", "L1", "L2", "R0", "R1", "R2", "Footer"]


def test_multicolumn_pdf_keeps_columns(shared_pdfs: Path) -> None:
    doc = open_pdf(shared_pdfs / "multicolumn.pdf")
    text = reading_order_text(doc[0])
    # The left column's last paragraph comes before the right column's first one.
    assert text.index("Lorem ipsum dolor sit amet") < text.index("Nam dui ligula")
    assert text.index("Nam dui ligula") < text.index("pellentesque ante")


def test_multilang_page_scripts(shared_pdfs: Path) -> None:
    text = reading_order_text(open_pdf(shared_pdfs / "multilang.pdf")[0])
    lines = dict(zip(text.splitlines()[::2], text.splitlines()[1::2], strict=False))
    assert detect_language(lines["Arabic:"]) == "ar"
    assert detect_language(lines["Russian:"]) == "ru"
    assert detect_language(lines["Chinese (traditional):"]) == "zh"
    assert detect_language(lines["Thai:"]) == "th"
    assert detect_language(lines["Japanese:"]) == "ja"


@pytest.mark.parametrize(
    "name, title",
    [
        ("GeoTopo-komprimiert.pdf", "Geometrie und Topologie"),  # metadata title
        ("google-doc-document.pdf", "PDF Example Document"),
        ("multicolumn.pdf", "Two-Column Document with Lorem Ipsum"),  # first line of page 1
        ("cmyk-image.pdf", "cmyk-image"),  # no text at all: the file stem
        ("Seige_of_Vicksburg_Sample_OCR.pdf", "THE   SIEGE   OF  VICKSBURG."),  # "Binder1.pdf" is no title
    ],
)
def test_titles(shared_pdfs: Path, name: str, title: str) -> None:
    assert probe_pdf(shared_pdfs / name).title == title


def test_junk_metadata_titles_are_ignored() -> None:
    assert usable_title("Untitled") == ""
    assert usable_title("report.pdf") == ""
    assert usable_title("imagemagick-images\x00") == "imagemagick-images"
    assert usable_title("Microsoft Word - Annual Report") == "Annual Report"
    assert choose_title(None, "\n  # Notes on search\nbody", "stem") == "Notes on search"
    assert choose_title("", "", "stem") == "stem"
