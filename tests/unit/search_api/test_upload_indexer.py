"""The upload indexer keeps the embedder it loaded for the next upload, and still refuses one that
does not match the store's; an upload never replaces a document its uploader could not delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from docstore.embedders.binding import EmbedderMismatch
from docstore.schema import Filters, page_id
from docstore.sqlite.store import SqliteStore
from search_api.auth import Caller
from search_api.indexing import UploadIndexer


def _incoming(folder: Path, name: str, text: str) -> Path:
    path = folder / f"job1__{name}"
    path.write_text(text)
    return path


ADMIN = Caller(anonymous=False, key_id="a", groups=[], admin=True)


def test_uploads_share_one_embedder_and_mismatches_are_refused(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/folio.db")
    uploads, inbox = tmp_path / "uploads", tmp_path / "inbox"
    inbox.mkdir()
    indexer = UploadIndexer(store, uploads, "hash:64", workers=1)

    first = indexer(_incoming(inbox, "a.md", "# Pegs\n\nround pegs in square holes\n"), "c", [], ADMIN)
    loaded = indexer._loaded
    second = indexer(_incoming(inbox, "b.md", "# Ones\n\nhere's to the crazy ones\n"), "c", [], ADMIN)
    assert (first.state, second.state) == ("indexed", "indexed")
    assert loaded is not None and indexer._loaded is loaded
    assert store.count(Filters(collection="c")) == 2

    other = UploadIndexer(store, uploads, "hash:32", workers=1)
    with pytest.raises(EmbedderMismatch):
        other(_incoming(inbox, "c.md", "# Misfits\n\nthe misfits\n"), "c", [], ADMIN)


def test_a_name_taken_by_a_document_the_uploader_may_not_change_gets_a_number(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/folio.db")
    uploads, inbox = tmp_path / "uploads", tmp_path / "inbox"
    inbox.mkdir()
    indexer = UploadIndexer(store, uploads, "hash:64", workers=1)
    legal = Caller(anonymous=False, key_id="l", groups=["legal"])
    staff = Caller(anonymous=False, key_id="s", groups=["staff"])
    anonymous = Caller(anonymous=True)

    def upload(caller: Caller, acl: list[str], text: str, name: str = "report.md") -> str:
        done = indexer(_incoming(inbox, name, f"# Report\n\n{text}\n"), "c", acl, caller)
        assert done.state == "indexed", done
        return done.name

    assert upload(legal, ["legal"], "the legal draft") == "report.md"
    assert upload(staff, ["staff"], "the staff draft") == "report (2).md"  # legal's stays
    assert upload(legal, ["legal"], "the legal final") == "report.md"  # its own: replaced
    assert upload(anonymous, [], "a public note", "note.md") == "note.md"
    assert upload(anonymous, [], "another public note", "note.md") == "note (2).md"  # public: an admin's call
    assert upload(staff, ["staff"], "the staff final") == "report (2).md"
    docs = store.list_documents(Filters(collection="c"))
    texts = {}
    for doc in docs:
        page = store.get_page(page_id(doc.doc_id, 1))
        assert page is not None
        texts[Path(doc.source).name] = page.text
    assert texts == {
        "report.md": "# Report\n\nthe legal final",
        "report (2).md": "# Report\n\nthe staff final",
        "note.md": "# Report\n\na public note",
        "note (2).md": "# Report\n\nanother public note",
    }
    assert sorted(p.name for p in (uploads / "c").iterdir()) == sorted(texts)
    assert upload(ADMIN, [], "the admin's version") == "report.md"  # an admin replaces anything
