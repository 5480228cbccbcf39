"""A page's highlights or the reason it has none: the hits' text matched, the word positions of
the matching pages read from a real SQLite store with the caller's groups in one call."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from docstore.highlights import HighlightBox
from docstore.page_highlights import NO_MATCH, read_highlights
from docstore.schema import Page, page_id
from docstore.sqlite.store import SqliteStore
from docstore.word_boxes import WordBox, encode_word_boxes

TEXT = "The library opens"
WORDS = [
    WordBox(0, 3, 0.1, 0.1, 0.13, 0.12),
    WordBox(4, 11, 0.14, 0.1, 0.21, 0.12),
    WordBox(12, 17, 0.22, 0.1, 0.27, 0.12),
]


def _page(doc: str, number: int, **fields: object) -> Page:
    base: dict[str, object] = {
        "page_id": page_id(doc, number), "doc_id": doc, "source": f"/{doc}.pdf", "content_hash": "h",
        "page_number": number, "page_count": 3, "language": "en",
    }  # fmt: skip
    return Page.model_validate(base | fields)


class _CountingStore(SqliteStore):
    """The real store, counting which pages' word positions are asked for."""

    asked: list[list[str]]

    def get_word_boxes(self, page_ids: Sequence[str], groups: list[str] | None = None) -> dict[str, bytes]:
        self.asked.append(list(page_ids))
        return super().get_word_boxes(page_ids, groups)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[_CountingStore]:
    store = _CountingStore(f"sqlite:///{tmp_path}/h.db")
    store.asked = []
    store.upsert_pages(
        [
            _page("d", 1, text=TEXT, word_boxes=encode_word_boxes(WORDS), acl=["alpha"]),
            _page("d", 2, text=TEXT),  # indexed before word positions were kept
            _page("d", 3, text=""),  # a scan read without OCR
            _page("t", 1, kind="text", source="/t.md", page_count=1, text=TEXT),
            _page("u", 1, text=TEXT, word_boxes=b"\xff\x00\x01"),  # written by a newer version
        ]
    )
    yield store
    store.close()


def _pages(store: SqliteStore, ids: list[str]) -> list[Page]:
    return store.get_pages(ids)  # as hits carry them: the text, no word positions


def test_boxes_and_the_reason_for_none(store: _CountingStore) -> None:
    ids = ["d:1", "d:2", "d:3", "t:1"]
    found = read_highlights(store, _pages(store, ids), "libraries", None)
    assert list(found) == ids
    assert found["d:1"].boxes == [HighlightBox(0.14, 0.1, 0.21, 0.12)] and found["d:1"].note is None
    for pid, reason in [("d:2", "before word positions"), ("d:3", "no words"), ("t:1", "text document")]:
        assert found[pid].boxes is None and reason in (found[pid].note or "")
    assert store.asked == [["d:1", "d:2"]]  # one read, only for the pages with a matching word
    assert read_highlights(store, [], "libraries", None) == {}


def test_a_page_outside_the_callers_groups_gives_no_boxes(store: _CountingStore) -> None:
    page = _pages(store, ["d:1"])
    assert read_highlights(store, page, "library", ["beta"])["d:1"].boxes is None
    assert read_highlights(store, page, "library", ["alpha"])["d:1"].boxes


def test_no_matching_word_is_an_empty_list_with_the_reason(store: _CountingStore) -> None:
    found = read_highlights(store, _pages(store, ["d:1", "d:2"]), "glaciers", None)
    assert all(f.boxes == [] and f.note == NO_MATCH for f in found.values())
    assert store.asked == []  # nothing to mark: no word positions read


def test_word_positions_of_an_unknown_format_are_said_so(store: _CountingStore) -> None:
    found = read_highlights(store, _pages(store, ["u:1"]), "library", None)["u:1"]
    assert found.boxes is None and "format" in (found.note or "")
