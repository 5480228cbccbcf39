"""What the page workers send back. A module of its own, beside the code that makes these
(pdf_pages, which loads PyMuPDF) and the pool that carries them (workers, whose worker loop runs
pdf_pages): the indexing process unpickles them without loading PyMuPDF, and pdf_pages needs
nothing of the pool."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# Plain dataclasses, not pydantic models: the forkserver imports this module, and importing
# pydantic would slow every run's start-up.
@dataclass
class PdfProbe:
    page_count: int
    title: str


@dataclass
class PageContent:
    page_number: int  # 1-based
    text: str
    ocr: bool
    needs_ocr: bool  # no text layer, and OCR was unavailable
    has_figures: bool
    language: str
    image: bytes
    image_format: str
    thumbnail: bytes
    width: int
    height: int
    embedding: Any = None  # float32 vector when the worker embeds (IndexOptions.embed_in)
    # indexer.word_positions: (start, end, x0, y0, x1, y1) per word, the fields of docstore's WordBox
    word_boxes: list[tuple[int, int, float, float, float, float]] = field(default_factory=list)
