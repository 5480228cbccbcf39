"""The pages the page-reference tests put in a store: a PDF page with its page image, a PDF page
without one (a scan whose image was never stored), a text document; and how to fill a store."""

from __future__ import annotations

import base64
import io

from PIL import Image

from docstore.schema import Page
from docstore.store import open_store


def png(color: str, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _page(page_id: str, kind: str, text: str, image: bytes | None = None) -> Page:
    doc_id = page_id.partition(":")[0]
    return Page.model_validate(
        {"page_id": page_id, "doc_id": doc_id, "source": f"/corpus/{doc_id}", "content_hash": "h",
         "page_number": 1, "page_count": 1, "kind": kind, "title": doc_id.title(), "text": text,
         "image": image, "thumbnail": b"JPEG" if image else None}
    )  # fmt: skip


PDF = _page("report:1", "pdf", "solar panel output per month, table 2", png("red", (84, 56)))
SCAN = _page("scan:1", "pdf", "scanned minutes of the panel meeting")
NOTE = _page("notes:1", "text", "notes about roof panels and their angle")
PAGES = [PDF, SCAN, NOTE]


def fill(url: str) -> None:
    store = open_store(url)
    try:
        store.upsert_pages(PAGES)
    finally:
        store.close()
