"""Page references: `folio-page:<page_id>`, the string by which a rerank server is sent a page."""

from __future__ import annotations

from docstore.candidates import page_ref, ref_page_id


def test_references_round_trip_and_other_text_is_not_one() -> None:
    for page_id in ("report:1", "dir/with:colons.pdf:12", "報告:3"):
        assert ref_page_id(page_ref(page_id)) == page_id
    assert ref_page_id(" folio-page:a:1") is None  # only a document that is exactly a reference
    assert ref_page_id("Folio-Page:a:1") is None and ref_page_id("a folio-page:a:1") is None
    assert ref_page_id("folio-page:  a:1 ") == "a:1"
    assert ref_page_id("folio-page:") == ""  # a reference naming no page: resolves to an error
