"""Storage contract: every backend writes, replaces, lists and deletes pages and documents the
same way, and keeps images behind the ACL. Each test runs on a fresh store per backend."""

from __future__ import annotations

import pytest

from docstore.protocol import Store
from docstore.schema import FileFailure, Filters, SearchMode, SearchRequest
from docstore.word_boxes import WordBox, decode_word_boxes, encode_word_boxes
from tests.contract.helpers import DIM, MODES, add, doc_info, page, unit


def test_upsert_get_and_replace_without_duplicates(store: Store) -> None:
    add(store, [page("a", 1, "first version"), page("a", 2, "second page")])
    add(store, [page("a", 1, "replaced text", title="New title")])
    assert store.count() == 2
    got = store.get_page("a:1")
    assert got is not None
    assert (got.text, got.title, got.page_number, got.doc_id) == ("replaced text", "New title", 1, "a")
    assert got.embedding is not None and len(got.embedding) == DIM
    assert store.get_page("missing:1") is None


def test_page_fields_round_trip(store: Store) -> None:
    original = page("r", 3, "body", title="T", collection="c1", language="fr", acl=["g1", "g2"], page_count=7)
    original = original.model_copy(update={"ocr": True, "has_figures": True, "kind": "pdf"})
    add(store, [original])
    got = store.get_page("r:3")
    assert got is not None
    expected = original.model_dump(exclude={"embedding", "image", "thumbnail"})
    assert got.model_dump(exclude={"embedding", "image", "thumbnail"}) == expected
    assert got.embedding == pytest.approx(original.embedding, abs=1e-6)


def test_documents_begin_finish_list_delete(store: Store) -> None:
    store.ensure(DIM)
    store.begin_document(doc_info("d1", 2))
    store.begin_document(doc_info("d2", 1, collection="other"))
    info = store.get_document("d1")
    assert info is not None and info.complete is False and info.page_count == 2
    add(store, [page("d1", 1, "one"), page("d1", 2, "two"), page("d2", 1, "three", collection="other")])
    store.finish_document("d1")
    info = store.get_document("d1")
    assert info is not None and info.complete is True and info.pages_stored == 2
    assert {d.doc_id for d in store.list_documents()} == {"d1", "d2"}
    assert [d.doc_id for d in store.list_documents(Filters(collection="other"))] == ["d2"]
    assert store.delete_document("d1") == 2
    assert store.get_document("d1") is None
    assert store.get_page("d1:1") is None and store.count() == 1
    assert store.delete_document("d1") == 0


def test_resumed_document_is_replaced_not_duplicated(store: Store) -> None:
    store.ensure(DIM)
    store.begin_document(doc_info("d", 3))
    add(store, [page("d", 1, "x")])  # interrupted after one page
    store.begin_document(doc_info("d", 3))  # the indexer starts over
    add(store, [page("d", n, "x") for n in (1, 2, 3)])
    store.finish_document("d")
    info = store.get_document("d")
    assert info is not None and info.complete and info.pages_stored == 3
    assert store.count() == 3 and len(store.list_documents()) == 1


def test_a_bulk_load_ends_with_every_page_searchable_once(store: Store) -> None:
    add(store, [page("old", 1, "harbour")])
    with store.bulk_load():
        add(store, [page("d", n, "tide table") for n in (1, 2, 3)])
        assert store.delete_document("d") == 3  # found, though a load's pages may not show yet
        add(store, [page("d", n, "tide table") for n in (1, 2)])  # the file now has two pages
        add(store, [page("old", 1, "harbour wall")])
    assert store.count() == 3
    hits = store.search(SearchRequest(query="tide", mode=SearchMode.bm25, top_k=10))
    assert sorted(h.page.page_id for h in hits) == ["d:1", "d:2"]
    got = store.get_page("old:1")
    assert got is not None and got.text == "harbour wall"


def test_list_documents_respects_acl(store: Store) -> None:
    store.ensure(DIM)
    store.begin_document(doc_info("open", 1))
    store.begin_document(doc_info("secret", 1, acl=["hr"]))
    assert {d.doc_id for d in store.list_documents(Filters(groups=["eng"]))} == {"open"}
    assert {d.doc_id for d in store.list_documents(Filters(groups=["hr"]))} == {"open", "secret"}
    assert len(store.list_documents()) == 2


def test_images_and_thumbnails_follow_the_acl(store: Store) -> None:
    add(
        store,
        [
            page("pub", 1, "x", image=b"\x89PNG-public", thumbnail=b"JPEG-pub"),
            page("hid", 1, "y", acl=["hr"], image=b"\x89PNG-hidden", thumbnail=b"JPEG-hid"),
            page("none", 1, "z"),
        ],
    )
    assert store.get_image("pub:1") == b"\x89PNG-public"
    assert store.get_image("pub:1", "thumbnail", groups=[]) == b"JPEG-pub"
    assert store.get_image("hid:1", groups=["eng"]) is None
    assert store.get_image("hid:1", "thumbnail", groups=["eng"]) is None
    assert store.get_image("hid:1", groups=["hr"]) == b"\x89PNG-hidden"
    assert store.get_image("none:1") is None
    assert store.get_page("hid:1", groups=["eng"]) is None
    full = store.get_page("hid:1", groups=["hr", "eng"])
    assert full is not None and full.image == b"\x89PNG-hidden" and full.thumbnail == b"JPEG-hid"


def test_pages_and_images_by_ids_in_one_read(store: Store) -> None:
    add(
        store,
        [
            page("a", 1, "first", title="A", image=b"\x89PNG-a1", thumbnail=b"JPEG-a1"),
            page("a", 2, "second"),
            page("hid", 1, "secret", acl=["hr"], image=b"\x89PNG-hidden"),
            page("t", 1, "a text file", thumbnail=b"JPEG-t"),
        ],
    )
    asked = ["hid:1", "missing:1", "a:2", "a:1", "a:2"]
    pages = store.get_pages(asked)
    assert [p.page_id for p in pages] == ["hid:1", "a:2", "a:1"]  # order asked, each once
    for got in pages:  # what get_page gives, without image, thumbnail, word boxes and embedding
        one = store.get_page(got.page_id)
        assert one is not None
        heavy = {"image": None, "thumbnail": None, "word_boxes": None, "embedding": None}
        assert got == one.model_copy(update=heavy)
    assert [p.page_id for p in store.get_pages(asked, groups=["eng"])] == ["a:2", "a:1"]
    assert [p.page_id for p in store.get_pages(asked, groups=["hr"])] == ["hid:1", "a:2", "a:1"]
    assert store.get_pages([]) == [] and store.get_pages(["missing:1"]) == []

    ids = ["a:1", "a:2", "hid:1", "t:1", "missing:1"]
    assert store.get_images(ids) == {"a:1": b"\x89PNG-a1", "hid:1": b"\x89PNG-hidden"}
    assert store.get_images(ids, groups=[]) == {"a:1": b"\x89PNG-a1"}
    assert store.get_images(ids, "thumbnail") == {"a:1": b"JPEG-a1", "t:1": b"JPEG-t"}
    assert store.get_images([]) == {}
    with pytest.raises(ValueError):
        store.get_images(ids, "poster")  # type: ignore[arg-type]


def test_count_respects_filters_and_acl(store: Store) -> None:
    add(
        store,
        [
            page("a", 1, "x"),
            page("b", 1, "x", acl=["hr"]),
            page("c", 1, "x", acl=["eng", "ops"], collection="c2", language="de"),
        ],
    )
    assert store.count() == 3
    assert store.count(Filters(groups=[])) == 1
    assert store.count(Filters(groups=["ops"])) == 2
    assert store.count(Filters(collection="c2")) == 1
    assert store.count(Filters(language="de", groups=["hr"])) == 0
    assert store.count(Filters(doc_id="b")) == 1


def test_meta_round_trips(store: Store) -> None:
    store.ensure(DIM)
    assert store.get_meta("owner") is None
    store.set_meta("owner", "search team")
    store.set_meta("owner", "platform team")
    assert store.get_meta("owner") == "platform team"


def test_empty_store_answers_without_error(store: Store) -> None:
    assert store.count() == 0
    assert store.list_documents() == []
    assert store.get_page("x:1") is None
    assert store.get_pages(["x:1"]) == [] and store.get_images(["x:1"]) == {}
    assert store.get_word_boxes(["x:1"]) == {}
    assert store.ping() is True


def test_reads_never_create_the_store(store: Store) -> None:
    assert not store.exists()
    assert store.count() == 0 and store.list_documents() == [] and store.get_document("d") is None
    assert store.get_meta("owner") is None and store.get_failure("d") is None
    assert store.get_pages(["d:1"]) == [] and store.get_images(["d:1"]) == {}
    assert store.get_word_boxes(["d:1"]) == {}
    store.clear_failure("d")
    assert not store.exists()
    store.begin_document(doc_info("d", 1))
    assert store.exists()


def test_failures_are_remembered_replaced_and_cleared(store: Store) -> None:
    store.ensure(DIM)
    failure = FileFailure(
        doc_id="d", source="/corpus/default/d.pdf", size=1234, mtime_ns=1_700_000_000_123_456_789,
        reason="damaged (cannot be opened: no readable PDF structure)",
    )  # fmt: skip
    store.record_failure(failure)
    assert store.get_failure("d") == failure and store.get_failure("e") is None
    newer = failure.model_copy(update={"size": 99, "reason": "encrypted (password required)"})
    store.record_failure(newer)
    assert store.get_failure("d") == newer
    assert store.list_documents() == [] and store.count() == 0  # a failure is no document
    store.clear_failure("d")
    store.clear_failure("d")  # nothing to clear: no error
    assert store.get_failure("d") is None


def test_word_boxes_are_read_by_page_id_never_with_hits_or_pages(store: Store) -> None:
    boxes = encode_word_boxes([WordBox(0, 5, 0.1, 0.2, 0.3, 0.25), WordBox(6, 12, 0.32, 0.2, 0.5, 0.25)])
    add(
        store,
        [
            page("w", 1, "solar panels", image=b"\x89PNG-w", thumbnail=b"JPEG-w", word_boxes=boxes),
            page("t", 1, "solar notes"),  # indexed before word boxes were kept, or a text file
            page("hid", 1, "solar secret", acl=["hr"], image=b"\x89PNG-h", word_boxes=boxes),
        ],
    )
    ids = ["w:1", "t:1", "hid:1", "missing:1", "w:1"]
    assert store.get_word_boxes(ids) == {"w:1": boxes, "hid:1": boxes}  # only pages that have them
    assert store.get_word_boxes([]) == {}
    full = store.get_page("w:1")
    assert full is not None and full.word_boxes == boxes and full.image == b"\x89PNG-w"
    assert [full.text[b.start : b.end] for b in decode_word_boxes(boxes)] == ["solar", "panels"]
    # the ACL keeps them with their page
    assert store.get_word_boxes(ids, groups=["eng"]) == {"w:1": boxes}
    assert store.get_word_boxes(ids, groups=[]) == {"w:1": boxes}
    assert store.get_word_boxes(["hid:1"], groups=["hr"]) == {"hid:1": boxes}
    assert all(p.word_boxes is None for p in store.get_pages(ids))  # pages stay as light as hits
    for mode in MODES:
        hits = store.search(SearchRequest(query="solar", vector=unit(1.0), mode=mode))
        assert {h.page.page_id for h in hits} == {"w:1", "t:1", "hid:1"}
        assert all(h.page.word_boxes is None for h in hits)
    # a page written again without them loses them; boxes need no picture beside them
    add(
        store,
        [page("w", 1, "solar panels", image=b"\x89PNG-w"), page("b", 1, "bare words", word_boxes=boxes)],
    )
    assert store.get_word_boxes(["w:1", "b:1"]) == {"b:1": boxes}
    assert store.get_image("w:1") == b"\x89PNG-w" and store.get_image("b:1") is None


def test_storage_names_each_part_with_its_bytes(store: Store) -> None:
    assert sum(store.storage().values()) == 0  # nothing stored yet, nothing created
    assert not store.exists()
    add(store, [page("a", n, f"page {n} of words") for n in range(1, 4)])
    parts = store.storage()
    assert parts and all(isinstance(size, int) and size >= 0 for size in parts.values())
    assert sum(parts.values()) > 0
