"""Which form of a page the reranker scores, its rendered image or its text, the reading of those
forms from the store (`page_candidates`), and the page references (`folio-page:<page_id>`) by which
a rerank server opened on the store is sent a page. One rule and one read for the search API's
candidates and for the pages a rerank server resolves, so both score the same input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from docstore.protocol import Store
from docstore.schema import Page

Modality = Literal["image", "text"]
ModalitySetting = Literal["image", "text", "auto"]

PAGE_REF_PREFIX = "folio-page:"


def choose_candidate(page: Page, setting: ModalitySetting) -> Modality:
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


def candidate_text(page: Page) -> str:
    """What the reranker reads of a page scored as text (or an image page without a stored image)."""
    return page.text or page.title or page.source


@dataclass(frozen=True)
class PageCandidate:
    """A page as the reranker is sent it: its stored page image (bytes) or the text it reads (str)."""

    page: Page
    content: bytes | str

    @property
    def modality(self) -> Modality:
        return "image" if isinstance(self.content, bytes) else "text"


def page_candidates(store: Store, pages: Sequence[Page], setting: ModalitySetting) -> list[PageCandidate]:
    """`pages` as the reranker scores them, in the order given. The images of the pages scored as
    images come from one `get_images` call (no group filter: the caller has already decided these
    pages may be scored); a PDF page without a stored image is scored from its text. StoreUnavailable
    when the store cannot be read."""
    as_image = [p.page_id for p in pages if choose_candidate(p, setting) == "image"]
    images = store.get_images(as_image) if as_image else {}
    return [PageCandidate(p, images.get(p.page_id) or candidate_text(p)) for p in pages]


def page_ref(page_id: str) -> str:
    return PAGE_REF_PREFIX + page_id


def ref_page_id(text: str) -> str | None:
    """The page id a reference names ("" for a reference without one), None when `text` is not a
    reference."""
    if not text.startswith(PAGE_REF_PREFIX):
        return None
    return text[len(PAGE_REF_PREFIX) :].strip()
