"""The indexer against real stores: the whole shared corpus (every file indexed or skipped with a
reason, page counts right, re-index writes nothing), changed files, interrupted documents, ACLs."""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from PIL import Image

from docstore.protocol import Store
from docstore.schema import DocumentInfo, Page, SearchMode, SearchRequest, page_id
from docstore.word_boxes import decode_word_boxes
from indexer.ocr import find_ocr
from indexer.pipeline import Indexer
from indexer.render import MAX_PIXELS
from indexer.sources import make_doc_id
from indexer.summary import IndexOptions, IndexSummary
from indexer.workers import WorkerPool

REPO = Path(__file__).resolve().parents[2]
OPTIONS = IndexOptions(embedder="hash", workers=2, quiet=True)
EXPECTED_SKIPS = {
    "libreoffice-writer-password.pdf": "encrypted (password required)",
    "crazyones-encrypted-256.pdf": "encrypted (password required)",
    "poppler-742-0-fuzzed.pdf": "damaged",
    "GHOSTSCRIPT-698804-1-fuzzed.pdf": "empty",
    "poppler-395-0-fuzzed.pdf": "empty",
}


def _open_backend(backend: str, request: pytest.FixtureRequest, folder: Path) -> tuple[Store, str]:
    if backend == "sqlite":
        from docstore.sqlite.store import SqliteStore

        return SqliteStore(f"sqlite:///{folder}/folio.db"), ""
    url: str = request.getfixturevalue("opensearch_url")
    try:
        from docstore.opensearch.store import OpenSearchStore  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        pytest.skip(f"OpenSearch store not available: {exc}")
    prefix = f"folio-test-{uuid.uuid4().hex[:10]}"
    return OpenSearchStore(f"{url}?prefix={prefix}"), prefix


def _drop(store: Store, backend: str, request: pytest.FixtureRequest, prefix: str) -> None:
    store.close()
    if backend == "opensearch":
        from tests.fixtures.stores import _delete_indices

        _delete_indices(request.getfixturevalue("opensearch_url"), prefix)


BACKENDS = ["sqlite", pytest.param("opensearch", marks=pytest.mark.opensearch)]


@pytest.fixture(scope="module", params=BACKENDS)
def corpus(
    request: pytest.FixtureRequest, shared_pdfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, IndexSummary]]:
    """The whole shared corpus indexed once per backend."""
    store, prefix = _open_backend(request.param, request, tmp_path_factory.mktemp("corpus"))
    summary = Indexer(store, OPTIONS).run([shared_pdfs])
    yield store, summary
    _drop(store, request.param, request, prefix)


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store, prefix = _open_backend(request.param, request, tmp_path)
    yield store
    _drop(store, request.param, request, prefix)


def test_every_file_is_indexed_or_skipped_with_a_reason(
    corpus: tuple[Store, IndexSummary], shared_pdfs: Path
) -> None:
    store, summary = corpus
    all_pdfs = {str(p.resolve()) for p in shared_pdfs.rglob("*.pdf")}
    indexed = {d.source for d in store.list_documents() if d.source.endswith(".pdf")}
    assert str((shared_pdfs / "SOURCES.md").resolve()) in {d.source for d in store.list_documents()}
    skipped = {s.source: s.reason for s in summary.skipped}
    assert indexed | set(skipped) == all_pdfs
    assert not indexed & set(skipped)
    assert {Path(s).name for s in skipped} == set(EXPECTED_SKIPS)
    for source, reason in skipped.items():
        assert reason.startswith(EXPECTED_SKIPS[Path(source).name]) and "\n" not in reason
    assert summary.files_indexed == len(indexed) + 1 == len(all_pdfs) - len(EXPECTED_SKIPS) + 1


def test_page_counts(corpus: tuple[Store, IndexSummary]) -> None:
    store, summary = corpus
    failed: dict[str, int] = {}
    for f in summary.failed_pages:
        failed[f.source] = failed.get(f.source, 0) + 1
    total = 0
    for doc in store.list_documents():
        if doc.source.endswith(".pdf"):
            with pymupdf.open(doc.source) as pdf:
                assert doc.page_count == pdf.page_count, doc.source
        else:
            assert doc.page_count == 1  # a text file is one text page
        assert doc.complete
        assert doc.pages_stored == doc.page_count - failed.get(doc.source, 0), doc.source
        total += doc.pages_stored
    assert store.count() == total == summary.pages_indexed


def test_geotopo_is_indexed_in_full(corpus: tuple[Store, IndexSummary], shared_pdfs: Path) -> None:
    store, _ = corpus
    doc_id = make_doc_id("default", (shared_pdfs / "GeoTopo-komprimiert.pdf").resolve())
    doc = store.get_document(doc_id)
    assert doc is not None and doc.page_count == doc.pages_stored == 117 and doc.complete
    assert doc.title == "Geometrie und Topologie"
    page = store.get_page(page_id(doc_id, 117))
    assert page is not None and page.page_number == 117 and page.page_count == 117
    page = store.get_page(page_id(doc_id, 6))
    assert page is not None and page.language == "de" and "Topologie" in page.text
    assert page.image is not None and page.thumbnail is not None
    image = Image.open(io.BytesIO(page.image))
    assert image.width * image.height <= MAX_PIXELS
    assert 128 < Image.open(io.BytesIO(page.thumbnail)).width <= 256
    assert page.word_boxes is not None
    assert store.get_word_boxes([page.page_id]) == {page.page_id: page.word_boxes}
    boxes = decode_word_boxes(page.word_boxes)  # the words of the text layer, on the image
    words = [page.text[b.start : b.end] for b in boxes]
    assert len(boxes) > 100 and "Topologie" in words and all(w and not w.isspace() for w in words)
    assert all(0 <= b.x0 <= b.x1 <= 1 and 0 <= b.y0 <= b.y1 <= 1 for b in boxes)


def test_scans_are_ocrd(corpus: tuple[Store, IndexSummary], shared_pdfs: Path) -> None:
    if find_ocr() is None:
        pytest.skip("Tesseract is not installed (scripts/setup.sh installs it)")
    store, summary = corpus
    assert not summary.notes
    doc_id = make_doc_id("default", (shared_pdfs / "encrypted_doc_no_id.pdf").resolve())
    page = store.get_page(page_id(doc_id, 2))
    assert page is not None and page.ocr and "WO 2003/036426" in page.text
    assert page.word_boxes is not None  # Tesseract's word boxes, from the same OCR
    assert "036426" in "".join(page.text[b.start : b.end] for b in decode_word_boxes(page.word_boxes))


def test_reindexing_writes_nothing(corpus: tuple[Store, IndexSummary], shared_pdfs: Path) -> None:
    store, first = corpus
    before = {d.doc_id: d for d in store.list_documents()}
    again = Indexer(store, OPTIONS).run([shared_pdfs])
    assert again.files_indexed == 0 and again.pages_indexed == 0
    assert again.files_unchanged == first.files_indexed
    assert {s.source for s in again.skipped} == {s.source for s in first.skipped}
    assert {d.doc_id: d for d in store.list_documents()} == before


def test_changed_file_replaces_its_pages(fresh: Store, shared_pdfs: Path, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    shutil.copy(shared_pdfs / "pdflatex-4-pages.pdf", path)
    first = Indexer(fresh, OPTIONS).run([path])
    assert first.pages_indexed == 4 and fresh.count() == 4
    doc_id = make_doc_id("default", path.resolve())
    old = fresh.get_document(doc_id)
    assert old is not None
    shutil.copy(shared_pdfs / "minimal-document.pdf", path)  # same path, new content, one page
    second = Indexer(fresh, OPTIONS).run([path])
    assert second.files_indexed == 1 and second.pages_indexed == 1
    doc = fresh.get_document(doc_id)
    assert doc is not None and doc.page_count == doc.pages_stored == 1 and doc.complete
    assert fresh.count() == 1
    assert fresh.get_page(page_id(doc_id, 2)) is None
    page = fresh.get_page(page_id(doc_id, 1))
    assert page is not None and page.content_hash == doc.content_hash != old.content_hash


def test_incomplete_document_is_redone(fresh: Store, shared_pdfs: Path, tmp_path: Path) -> None:
    """What a run killed mid-file leaves behind: a begun document with some pages. The next run
    must redo it so that every page ends present exactly once."""
    path = tmp_path / "four.pdf"
    shutil.copy(shared_pdfs / "pdflatex-4-pages.pdf", path)
    doc_id = make_doc_id("default", path.resolve())
    fresh.ensure(384)
    from indexer.sources import content_hash

    digest = content_hash(path)
    info = DocumentInfo(
        doc_id=doc_id, collection="default", source=str(path.resolve()), content_hash=digest,
        page_count=4, pages_stored=0, complete=False,
    )  # fmt: skip
    fresh.begin_document(info)
    stale = Page(
        page_id=page_id(doc_id, 1), doc_id=doc_id, source=str(path.resolve()), content_hash=digest,
        page_number=1, page_count=4, text="half-written", embedding=[1.0] + [0.0] * 383,
    )  # fmt: skip
    fresh.upsert_pages([stale])
    # (this run embeds in the workers; the others embed in the main process, as "auto" does for hash)
    summary = Indexer(fresh, OPTIONS.model_copy(update={"embed_in": "workers"})).run([path])
    assert summary.files_indexed == 1 and summary.pages_indexed == 4
    doc = fresh.get_document(doc_id)
    assert doc is not None and doc.complete and doc.pages_stored == 4
    assert fresh.count() == 4
    page = fresh.get_page(page_id(doc_id, 1))
    assert page is not None and page.text != "half-written"
    hits = fresh.search(SearchRequest(mode=SearchMode.knn, vector=_hash_vector(page.text), top_k=1))
    assert hits and hits[0].page.page_id == page.page_id  # the stored vector is the page's own


def _hash_vector(text: str) -> list[float]:
    from docstore.embedders import get_embedder

    return [float(x) for x in get_embedder("hash").encode([text[: OPTIONS.embed_chars]])[0]]


def test_text_files_acl_and_collection(fresh: Store) -> None:
    options = OPTIONS.model_copy(update={"collection": "notes", "groups": ["staff"]})
    summary = Indexer(fresh, options).run([REPO / "samples" / "indexing-notes.md"])
    assert summary.files_indexed == 1 and summary.pages_indexed == 1
    doc_id = make_doc_id("notes", (REPO / "samples" / "indexing-notes.md").resolve())
    page = fresh.get_page(page_id(doc_id, 1))
    assert page is not None and page.kind == "text" and page.image is None and page.word_boxes is None
    assert page.collection == "notes" and page.acl == ["staff"]
    assert page.title == "Folio quick notes: indexing and reranking"
    assert fresh.get_page(page_id(doc_id, 1), groups=["other"]) is None
    assert fresh.get_page(page_id(doc_id, 1), groups=["staff"]) is not None
    # Changing the groups re-indexes the file (its ACL is part of what is stored).
    again = Indexer(fresh, options.model_copy(update={"groups": []})).run(
        [REPO / "samples" / "indexing-notes.md"]
    )
    assert again.files_indexed == 1
    page = fresh.get_page(page_id(doc_id, 1), groups=["other"])
    assert page is not None and page.acl == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_special_files_are_skipped_not_waited_on(fresh: Store, shared_pdfs: Path, tmp_path: Path) -> None:
    """A FIFO named like a PDF would block a read forever: it is skipped with its reason, and the
    real file beside it is indexed (a link to a missing file is skipped as unreadable)."""
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.pdf")
    (folder / "gone.pdf").symlink_to(tmp_path / "missing.pdf")
    shutil.copy(shared_pdfs / "multilang.pdf", folder / "real.pdf")
    summary = Indexer(fresh, OPTIONS).run([folder])
    assert summary.files_indexed == 1 and summary.pages_indexed > 0
    reasons = {Path(s.source).name: s.reason for s in summary.skipped}
    assert reasons == {
        "pipe.pdf": "unreadable (not a regular file)",
        "gone.pdf": "unreadable (No such file or directory)",
    }


def test_a_cut_text_file_is_reported(fresh: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("indexer.sources.MAX_TEXT_CHARS", 100)
    log = tmp_path / "big.txt"
    log.write_text("line of a long log\n" * 50, encoding="utf-8")
    summary = Indexer(fresh, OPTIONS).run([log])
    assert summary.files_indexed == 1
    assert any(note.startswith(f"{log}: only its first") for note in summary.notes), summary.notes
    page = fresh.get_page(page_id(make_doc_id("default", log.resolve()), 1))
    assert page is not None and 0 < len(page.text) <= 100


class _CountingEmbedder:
    """The hash embedder, counting its calls (the pipeline's warm-up included)."""

    def __init__(self) -> None:
        from docstore.embedders import get_embedder

        self.inner = get_embedder("hash")
        self.name, self.dim, self.calls = self.inner.name, self.inner.dim, 0
        self.runs_in_workers = self.inner.runs_in_workers

    def encode(self, texts: list[str]) -> Any:
        self.calls += 1
        return self.inner.encode(texts)


def test_a_run_over_unchanged_files_never_loads_the_embedder(fresh: Store, shared_pdfs: Path) -> None:
    files = [REPO / "samples" / "indexing-notes.md", shared_pdfs / "multilang.pdf"]
    first = _CountingEmbedder()
    assert Indexer(fresh, OPTIONS, embedder=first).run(files).files_indexed == 2
    assert first.calls > 0
    again = _CountingEmbedder()
    assert Indexer(fresh, OPTIONS, embedder=again).run(files).files_unchanged == 2
    assert again.calls == 0


def _no_workers(self: WorkerPool) -> None:
    raise AssertionError("a worker was started")


def test_an_unchanged_broken_pdf_is_not_opened_again(
    fresh: Store, shared_pdfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure is remembered with the file's size and mtime: a re-run skips the file with the
    same reason and starts no worker, until the file changes; once it is indexed, it is forgotten."""
    folder = tmp_path / "in"
    folder.mkdir()
    broken = folder / "broken.pdf"
    shutil.copy(shared_pdfs / "libreoffice-writer-password.pdf", broken)
    shutil.copy(shared_pdfs / "multilang.pdf", folder / "fine.pdf")
    doc_id = make_doc_id("default", broken.resolve())
    first = Indexer(fresh, OPTIONS).run([folder])
    assert first.files_indexed == 1
    [skipped] = first.skipped
    assert (skipped.reason, skipped.remembered) == ("encrypted (password required)", False)
    failure = fresh.get_failure(doc_id)
    assert failure is not None and failure.reason == skipped.reason
    assert (failure.size, failure.mtime_ns) == (broken.stat().st_size, broken.stat().st_mtime_ns)

    with monkeypatch.context() as patch:
        patch.setattr(WorkerPool, "_start", _no_workers)
        embedder = _CountingEmbedder()
        again = Indexer(fresh, OPTIONS, embedder=embedder).run([folder])
    assert again.files_unchanged == 1 and again.files_indexed == 0 and embedder.calls == 0
    assert again.skipped == [skipped.model_copy(update={"remembered": True})]

    stat = broken.stat()
    os.utime(broken, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched: opened again
    third = Indexer(fresh, OPTIONS).run([broken])
    assert third.skipped == [skipped]
    newer = fresh.get_failure(doc_id)
    assert newer is not None and newer.mtime_ns == broken.stat().st_mtime_ns

    shutil.copy(shared_pdfs / "minimal-document.pdf", broken)  # repaired
    fixed = Indexer(fresh, OPTIONS).run([broken])
    assert fixed.files_indexed == 1 and not fixed.skipped
    assert fresh.get_failure(doc_id) is None


def test_a_file_that_breaks_loses_its_pages_and_is_remembered(
    fresh: Store, shared_pdfs: Path, tmp_path: Path
) -> None:
    path = tmp_path / "report.pdf"
    shutil.copy(shared_pdfs / "minimal-document.pdf", path)
    assert Indexer(fresh, OPTIONS).run([path]).files_indexed == 1
    shutil.copy(shared_pdfs / "hostile" / "poppler-742-0-fuzzed.pdf", path)
    broken = Indexer(fresh, OPTIONS).run([path])
    [skipped] = broken.skipped
    assert skipped.reason.startswith("damaged") and not skipped.remembered
    assert fresh.list_documents() == [] and fresh.count() == 0
    assert Indexer(fresh, OPTIONS).run([path]).skipped == [skipped.model_copy(update={"remembered": True})]
