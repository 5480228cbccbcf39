"""The upload indexer keeps the embedder it loaded for the next upload, and still refuses one that
does not match the store's; an upload never replaces a document its uploader could not delete, nor
takes a name another server's upload holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from docstore.embedders.binding import EmbedderMismatch
from docstore.protocol import Store
from docstore.schema import Filters, page_id
from docstore.sqlite.store import SqliteStore
from indexer.sources import make_doc_id
from search_api.auth import Caller
from search_api.indexing import UploadIndexer
from search_api.jobs_in_store import StoreJobs
from search_api.models import JobFile, JobStatus
from search_api.upload_names import UploadNames


def _incoming(folder: Path, name: str, text: str) -> Path:
    path = folder / f"job1__{name}"
    path.write_text(text)
    return path


def _indexer(store: Store, uploads: Path, embedder: str) -> UploadIndexer:
    shared = store.shared_state()
    names = UploadNames(shared, StoreJobs(shared))
    return UploadIndexer(store, uploads, embedder, 1, shared.originals, names)


ADMIN = Caller(anonymous=False, key_id="a", groups=[], admin=True)


def test_uploads_share_one_embedder_and_mismatches_are_refused(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/folio.db")
    uploads, inbox = tmp_path / "uploads", tmp_path / "inbox"
    inbox.mkdir()
    indexer = _indexer(store, uploads, "hash:64")

    first = indexer(_incoming(inbox, "a.md", "# Pegs\n\nround pegs in square holes\n"), "c", [], ADMIN)
    loaded = indexer._loaded
    second = indexer(_incoming(inbox, "b.md", "# Ones\n\nhere's to the crazy ones\n"), "c", [], ADMIN)
    assert (first.state, second.state) == ("indexed", "indexed")
    assert loaded is not None and indexer._loaded is loaded
    assert store.count(Filters(collection="c")) == 2

    other = _indexer(store, uploads, "hash:32")
    with pytest.raises(EmbedderMismatch):
        other(_incoming(inbox, "c.md", "# Misfits\n\nthe misfits\n"), "c", [], ADMIN)


def test_a_name_taken_by_a_document_the_uploader_may_not_change_gets_a_number(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/folio.db")
    uploads, inbox = tmp_path / "uploads", tmp_path / "inbox"
    inbox.mkdir()
    indexer = _indexer(store, uploads, "hash:64")
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


def test_a_name_another_server_is_indexing_gets_a_number_until_that_server_is_gone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/folio.db"
    here, there = SqliteStore(url), SqliteStore(url)  # two servers on one file
    uploads, inbox = tmp_path / "uploads", tmp_path / "inbox"
    inbox.mkdir()
    shared = there.shared_state()
    other_jobs = StoreJobs(shared, timeout_s=300)
    other_jobs.save(JobStatus(job_id="j1", files=[JobFile(name="report.md")]))  # it beats from its first job
    doc_id = make_doc_id("c", (uploads / "c" / "report.md").resolve())
    assert UploadNames(shared, other_jobs).claim(doc_id, "c/report.md")
    indexer = _indexer(here, uploads, "hash:64")

    def upload(text: str) -> str:
        done = indexer(_incoming(inbox, "report.md", f"# Report\n\n{text}\n"), "c", [], ADMIN)
        assert done.state == "indexed", done
        return done.name

    assert upload("while the other server indexes it") == "report (2).md"
    other_jobs.close()  # it stops, its claim left behind
    assert upload("once the other server is gone") == "report.md"
    assert shared.records("upload-names").get(doc_id) is None  # released once indexed
    assert sorted(Path(d.source).name for d in here.list_documents()) == ["report (2).md", "report.md"]
