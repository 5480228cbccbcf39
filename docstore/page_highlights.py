"""The highlights of the pages a caller is shown for a query, or why a page has none (the API's
search and page routes, `folio search --json`).

The pages come as hits carry them (their text, no word positions): the text is matched first, and
only the pages with a matching word have their word positions read, in one store call with the
caller's groups (a page the caller may not see gives no boxes), and decoded. A hit without a
matching word (found by its embedding, or by its document's title) gets an empty list and NO_MATCH:
no passage is picked for it."""

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
_NOT_KEPT = Highlights(None, "this page was indexed before word positions were kept")
_TEXT_DOCUMENT = Highlights(None, "a text document has no page image")
_NO_WORDS = Highlights(None, "no words were read on this page")
_UNKNOWN_FORMAT = Highlights(None, "this page's word positions are in a format this version cannot read")


def read_highlights(
    store: Store, pages: Sequence[Page], query: str, groups: list[str] | None
) -> dict[str, Highlights]:
    """Highlights by page id for `pages` (as get_pages or a search's hits give them, in that order):
    the word positions of those with a word of `query` read in one get_word_boxes call with the
    caller's `groups`, and decoded only for those."""
    found: dict[str, Highlights] = {}
    spans: dict[str, list[tuple[int, int]]] = {}
    for page in pages:
        if page.kind == "text":
            found[page.page_id] = _TEXT_DOCUMENT
        elif not page.text.strip():
            found[page.page_id] = _NO_WORDS
        elif matched := matched_spans(page.text, query, page.language):
            spans[page.page_id] = matched
        else:  # whether it has word positions is not asked: none would be marked
            found[page.page_id] = Highlights([], NO_MATCH)
    stored = store.get_word_boxes(list(spans), groups=groups) if spans else {}
    for page in pages:
        if page.page_id in spans:
            found[page.page_id] = _placed(page.text, spans[page.page_id], stored.get(page.page_id))
    return {page.page_id: found[page.page_id] for page in pages}


def _placed(text: str, spans: list[tuple[int, int]], stored: bytes | None) -> Highlights:
    if stored is None:  # none kept, or (read with the caller's groups) none the caller may see
        return _NOT_KEPT
    try:
        words = decode_word_boxes(stored)
    except ValueError:  # written by a newer version
        return _UNKNOWN_FORMAT
    boxes = place_spans(text, spans, words)
    return Highlights(boxes, None if boxes else NO_MATCH)


def highlights_json(found: Highlights) -> dict[str, Any]:
    """The two JSON fields every hit carries: `highlights` and `highlights_note`."""
    boxes = None if found.boxes is None else [asdict(b) for b in found.boxes]
    return {"highlights": boxes, "highlights_note": found.note}
