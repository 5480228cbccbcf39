"""A page's highlights for a query, or why it has none, and the one store read that gives them for
the hits a caller is shown (the API's search and page routes, `folio search --json`).

Highlights come from pages read with the caller's groups, so a page the caller may not see gives
no boxes, only UNREADABLE. A hit without a matching word (found by its embedding, or by its
document's title) gets an empty list and NO_MATCH: no passage is picked for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from docstore.highlights import HighlightBox, matched_spans, place_spans
from docstore.protocol import Store
from docstore.schema import Page
from docstore.word_boxes import decode_word_boxes


@dataclass(frozen=True)
class Highlights:
    boxes: list[HighlightBox] | None  # None: this page cannot have any (note says why)
    note: str | None = None  # why there are none; None when there are some


NO_MATCH = (
    "no word of the query is on this page (it matched by meaning or by its title); no passage is marked"
)
IMAGE_QUERY = Highlights(None, "an image query has no typed words to mark")
NO_QUERY = Highlights(None, "no query was given")
UNREADABLE = Highlights(None, "the page could not be read (deleted, or not visible to the caller)")
_NOT_KEPT = Highlights(None, "this page was indexed before word positions were kept")
_TEXT_DOCUMENT = Highlights(None, "a text document has no page image")
_NO_WORDS = Highlights(None, "no words were read on this page")
_UNKNOWN_FORMAT = Highlights(None, "this page's word positions are in a format this version cannot read")


def page_highlights(page: Page, query: str) -> Highlights:
    """The boxes of `page`'s words that match `query` (docstore.highlights), or why there are none.
    `page` must come from get_pages / get_page (hits do not carry word positions)."""
    if page.kind == "text":
        return _TEXT_DOCUMENT
    if not page.text.strip():
        return _NO_WORDS
    if page.word_boxes is None:
        return _NOT_KEPT
    spans = matched_spans(page.text, query, page.language)
    if not spans:  # the word positions need not be decoded
        return Highlights([], NO_MATCH)
    try:
        words = decode_word_boxes(page.word_boxes)
    except ValueError:  # written by a newer version
        return _UNKNOWN_FORMAT
    found = place_spans(page.text, spans, words)
    return Highlights(found, None if found else NO_MATCH)


def read_highlights(
    store: Store, page_ids: Sequence[str], query: str, groups: list[str] | None
) -> dict[str, Highlights]:
    """Highlights by page id for `page_ids`, their pages read in one get_pages call with the
    caller's `groups`."""
    if not page_ids:
        return {}
    pages = {p.page_id: p for p in store.get_pages(page_ids, groups=groups)}
    return {pid: page_highlights(pages[pid], query) if pid in pages else UNREADABLE for pid in page_ids}


def highlights_json(found: Highlights) -> dict[str, Any]:
    """The two JSON fields every hit carries: `highlights` and `highlights_note`."""
    boxes = None if found.boxes is None else [asdict(b) for b in found.boxes]
    return {"highlights": boxes, "highlights_note": found.note}
