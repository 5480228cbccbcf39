"""Tesseract OCR through PyMuPDF, for pages without a text layer. Optional: when Tesseract or its
language data is missing, pages are indexed without text and the run says so once."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only annotations here: the indexing process itself never loads PyMuPDF
    from indexer.mupdf import pymupdf

# Languages tried when installed, in this order; "osd" (orientation data) is not a language.
_PREFERRED = ("eng", "deu", "fra", "spa", "ita", "por", "nld")
OCR_DPI = 200


@dataclass(frozen=True)
class OcrConfig:
    tessdata: str
    languages: str  # Tesseract's "eng+deu" form


@lru_cache(maxsize=1)
def find_ocr() -> OcrConfig | None:
    """Tesseract's data folder (TESSDATA_PREFIX, else the Debian/Ubuntu locations) and the
    languages installed there; None when OCR is unavailable."""
    candidates = [os.environ.get("TESSDATA_PREFIX", "")]
    candidates += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    candidates += ["/usr/share/tessdata", "/usr/local/share/tessdata", "/opt/homebrew/share/tessdata"]
    if shutil.which("tesseract") is None and not os.environ.get("TESSDATA_PREFIX"):
        return None  # PyMuPDF links Tesseract itself, but without the package there is no data
    for folder in candidates:
        if not folder or not os.path.isdir(folder):
            continue
        installed = {
            os.path.basename(p)[: -len(".traineddata")] for p in glob.glob(f"{folder}/*.traineddata")
        }
        langs = [lang for lang in _PREFERRED if lang in installed][:3]
        langs = langs or sorted(installed - {"osd"})[:1]
        if langs:
            return OcrConfig(tessdata=folder, languages="+".join(langs))
    return None


def ocr_textpage(page: pymupdf.Page, config: OcrConfig) -> pymupdf.TextPage:
    """A text page recognised from the rendered page image (full-page OCR), its words' boxes
    (Tesseract's) scaled back from the OCR resolution into the rendered page's coordinates, like
    the text layer's. (PyMuPDF's own get_textpage_ocr turns them back into the unrotated page's,
    and on a rotated page drops the words that fall outside the unrotated page's box.)"""
    from indexer.mupdf import pymupdf

    pix = page.get_pixmap(dpi=OCR_DPI)
    scanned = pix.pdfocr_tobytes(compress=False, language=config.languages, tessdata=config.tessdata)
    ocr_page = pymupdf.open("pdf", scanned).load_page(0)  # the image with Tesseract's invisible text
    scale = page.rect.width / ocr_page.rect.width
    return ocr_page.get_textpage(flags=0, matrix=pymupdf.Matrix(scale, scale))
