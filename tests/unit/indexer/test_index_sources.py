"""Finding files, stable ids, text files as pages."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from docstore.schema import page_id
from indexer.sources import NoSuchPath, content_hash, discover, make_doc_id, read_text_document


def test_discover_walks_folders_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["b/z.pdf", "a.md", "notes.txt", "image.png", ".hidden/x.pdf", "b/.secret.md", "C.PDF"]:
        (tmp_path / name).write_bytes(b"x")
    found = [(f.path.relative_to(tmp_path).as_posix(), f.kind) for f in discover([tmp_path])]
    assert found == [("C.PDF", "pdf"), ("a.md", "text"), ("notes.txt", "text"), ("b/z.pdf", "pdf")]
    # a file named twice (directly and inside its folder) is indexed once
    assert len(list(discover([tmp_path / "a.md", tmp_path]))) == 4


def test_missing_path_fails_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(NoSuchPath, match="no such file or folder"):
        list(discover([tmp_path, tmp_path / "missing"]))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_only_regular_files_are_read(tmp_path: Path) -> None:
    """A FIFO named like a PDF is found, and hashing it fails at once instead of waiting for a
    writer that never comes (the indexer then skips it with the reason)."""
    os.mkfifo(tmp_path / "pipe.pdf")
    (tmp_path / "real.pdf").write_bytes(b"%PDF-1.4")
    assert [f.path.name for f in discover([tmp_path])] == ["pipe.pdf", "real.pdf"]
    assert [f.path.name for f in discover([tmp_path / "pipe.pdf"])] == ["pipe.pdf"]
    with pytest.raises(OSError, match="not a regular file"):
        content_hash(tmp_path / "pipe.pdf")
    assert content_hash(tmp_path / "real.pdf") == hashlib.sha256(b"%PDF-1.4").hexdigest()


def test_ids_are_stable_per_collection_and_path(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    assert make_doc_id("default", path) == make_doc_id("default", path)
    assert make_doc_id("default", path) != make_doc_id("other", path)
    assert make_doc_id("default", path) != make_doc_id("default", tmp_path / "b.pdf")
    assert page_id("abc", 3) == "abc:3"


def test_text_documents(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text(
        "\ufeff# Reranking notes\n\nSearch results are reranked by a cross-encoder.\n", encoding="utf-8"
    )
    doc = read_text_document(md)
    assert doc.title == "Reranking notes"
    assert doc.text.startswith("# Reranking notes")
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes(
        "Größe und Qualität der Übersetzung sind nicht schlecht für die Suche".encode("latin-1")
    )
    doc = read_text_document(legacy)
    assert "Größe" in doc.text and doc.language == "de"


def test_huge_text_files_are_cut_without_reading_them_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("indexer.sources.MAX_TEXT_CHARS", 10)
    small = tmp_path / "small.txt"
    small.write_text("short note", encoding="utf-8")
    assert read_text_document(small).truncated is False
    ascii_file = tmp_path / "log.txt"
    ascii_file.write_text("word " * 1000, encoding="utf-8")
    doc = read_text_document(ascii_file)
    assert doc.truncated and doc.text == "word word"  # 10 characters, trailing space stripped
    # 40 bytes are read; they end inside the 14th three-byte character, which is dropped, not
    # mistaken for Latin-1
    euro = tmp_path / "euro.txt"
    euro.write_text("€" * 30, encoding="utf-8")
    doc = read_text_document(euro)
    assert doc.truncated and doc.text == "€" * 10
