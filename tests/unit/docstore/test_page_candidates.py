"""`page_candidates`: pages as the reranker is sent them (the search API's candidates and a rerank
server's page references), on a real SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from docstore.candidates import page_candidates
from docstore.sqlite.store import SqliteStore
from tests.contract.helpers import add, page


def test_images_come_from_one_read_and_the_rule_picks_the_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path / 'folio.db'}")
    reads: list[list[str]] = []
    read_images = store.get_images

    def counted(page_ids: Any, *args: Any, **kwargs: Any) -> dict[str, bytes]:
        reads.append(list(page_ids))
        return read_images(page_ids, *args, **kwargs)

    monkeypatch.setattr(store, "get_images", counted)
    pdf = page("a", 1, "chart of flood levels", image=b"\x89PNG-a1")
    pdf_hidden = page("b", 1, "restricted page", acl=["hr"], image=b"\x89PNG-b1")
    no_image = page("c", 1, "a PDF page stored without its image")
    note = page("t", 1, "a text file").model_copy(update={"kind": "text", "image": b"\x89PNG-t"})
    add(store, [pdf, pdf_hidden, no_image, note])
    pages = store.get_pages(["t:1", "a:1", "c:1", "b:1"], groups=["hr"])
    try:
        got = page_candidates(store, pages, "image")
        assert reads == [["a:1", "c:1", "b:1"]]  # one read, text documents left out
        assert [(c.page.page_id, c.modality, c.content) for c in got] == [
            ("t:1", "text", "a text file"),
            ("a:1", "image", b"\x89PNG-a1"),
            ("c:1", "text", "a PDF page stored without its image"),
            ("b:1", "image", b"\x89PNG-b1"),  # the caller chose the pages: no group filter here
        ]
        reads.clear()
        as_text = page_candidates(store, pages, "text")
        assert reads == [] and {c.modality for c in as_text} == {"text"}
        assert page_candidates(store, [], "image") == [] and reads == []
    finally:
        store.close()
