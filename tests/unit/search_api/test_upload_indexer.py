"""The upload indexer keeps the embedder it loaded for the next upload, and still refuses one that
does not match the store's."""

from __future__ import annotations

from pathlib import Path

import pytest

from docstore.schema import Filters
from docstore.sqlite_store import SqliteStore
from indexer.embedding import EmbedderMismatch
from search_api.indexing import UploadIndexer


def _incoming(folder: Path, name: str, text: str) -> Path:
    path = folder / f"job1__{name}"
    path.write_text(text)
    return path


def test_uploads_share_one_embedder_and_mismatches_are_refused(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/folio.db")
    uploads, inbox = tmp_path / "uploads", tmp_path / "inbox"
    inbox.mkdir()
    indexer = UploadIndexer(store, uploads, "hash:64", workers=1)

    first = indexer(_incoming(inbox, "a.md", "# Pegs\n\nround pegs in square holes\n"), "c", [])
    loaded = indexer._loaded
    second = indexer(_incoming(inbox, "b.md", "# Ones\n\nhere's to the crazy ones\n"), "c", [])
    assert (first.state, second.state) == ("indexed", "indexed")
    assert loaded is not None and indexer._loaded is loaded
    assert store.count(Filters(collection="c")) == 2

    other = UploadIndexer(store, uploads, "hash:32", workers=1)
    with pytest.raises(EmbedderMismatch):
        other(_incoming(inbox, "c.md", "# Misfits\n\nthe misfits\n"), "c", [])
