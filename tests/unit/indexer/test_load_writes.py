"""In bulk-load mode the indexer gathers pages into large writes (capped by pages and by bytes) and
still finishes a document only once all its pages are stored; without it, pages are written a
batch at a time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import indexer.pipeline as pipeline
from docstore.schema import Page
from docstore.sqlite.store import SqliteStore
from indexer.pipeline import Indexer
from indexer.summary import IndexOptions


class CountingStore(SqliteStore):
    """A real SQLite store that notes the size of each page write."""

    writes: list[int]

    def upsert_pages(self, pages: Sequence[Page]) -> None:
        self.writes.append(len(pages))
        super().upsert_pages(pages)


SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "reranking-overview.pdf"  # 3 pages
FILES = 10


def _corpus(tmp_path: Path) -> Path:
    # PDFs, whose pages come back from the workers a few at a time (a text file is read whole)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(FILES):
        (corpus / f"overview-{i:02d}.pdf").write_bytes(SAMPLE.read_bytes())
    return corpus


def _index(tmp_path: Path, corpus: Path, bulk_load: bool) -> CountingStore:
    store = CountingStore(f"sqlite:///{tmp_path}/folio-{bulk_load}.db")
    store.writes = []
    options = IndexOptions(
        embedder="hash", workers=1, quiet=True, batch_size=4, bulk_load=bulk_load, ocr=False
    )
    summary = Indexer(store, options).run([corpus])
    assert (summary.files_indexed, summary.pages_indexed) == (FILES, 3 * FILES)
    return store


def test_a_load_writes_big_batches_and_finishes_every_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _corpus(tmp_path)
    monkeypatch.setattr(pipeline, "LOAD_WRITE_PAGES", 12)
    store = _index(tmp_path, corpus, bulk_load=True)
    try:
        # batches gathered until 12 pages or more, then the rest at the end
        assert all(n >= 12 for n in store.writes[:-1]) and len(store.writes) in (2, 3)
        assert store.count() == 3 * FILES
        assert all(doc.complete for doc in store.list_documents())
    finally:
        store.close()
    plain = _index(tmp_path, corpus, bulk_load=False)
    try:
        assert len(plain.writes) > 3 and max(plain.writes) < 12  # a batch at a time
    finally:
        plain.close()


def test_a_loads_writes_are_capped_by_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _corpus(tmp_path)
    monkeypatch.setattr(pipeline, "LOAD_WRITE_BYTES", 1)  # every batch is over it: written at once
    store = _index(tmp_path, corpus, bulk_load=True)
    try:
        assert len(store.writes) > 3 and max(store.writes) < 12 and sum(store.writes) == 3 * FILES
    finally:
        store.close()
