"""Which form of a page the reranker scores: its rendered image or its text."""

from __future__ import annotations

from typing import Literal

from docstore.schema import Page

Modality = Literal["image", "text"]


def choose_candidate(page: Page, setting: Literal["image", "text", "auto"]) -> Modality:
    """Text documents are always text. A PDF page follows the setting; `auto` sends the image
    only where the text misses something: figures/tables, OCR'd scans, or no text layer at all."""
    if page.kind == "text":
        return "text"
    if setting == "image":
        return "image"
    if setting == "text":
        return "text" if page.text.strip() else "image"
    if page.has_figures or page.ocr or not page.text.strip():
        return "image"
    return "text"
