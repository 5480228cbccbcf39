"""Finding files and S3 objects, which indexed ones are gone, stable ids, text files as pages."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest

from docstore.schema import DocumentInfo, page_id
from indexer.discovery import Discovery, discover
from indexer.s3_sources import S3Object, S3Root, _local_name, is_s3_uri
from indexer.sources import NoSuchPath, Stamp, content_hash, make_doc_id, read_text_document


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


def _doc(doc_id: str, source: str) -> DocumentInfo:
    return DocumentInfo(
        doc_id=doc_id,
        collection="c",
        source=source,
        content_hash="h",
        page_count=1,
        pages_stored=1,
        complete=True,
    )


def test_gone_documents_are_those_under_a_listed_root_that_are_no_longer_there(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    for name in ["docs/kept.md", "docs/.draft.md", "alone.md"]:
        (tmp_path / name).write_text("x")
    indexed = [
        _doc(name, str(tmp_path / name))
        for name in ["docs/kept.md", "docs/.draft.md", "docs/deleted.md", "docs-other/deleted.md", "alone.md"]
    ]
    files = discover([tmp_path / "docs", tmp_path / "alone.md"])
    assert files.lists and not discover([tmp_path / "alone.md"]).lists
    assert [s.uri for s in files] == [str(tmp_path / "docs" / "kept.md"), str(tmp_path / "alone.md")]
    # the hidden file is not listed but is there; a sibling folder sharing the name's start is not under it
    assert [d.doc_id for d in files.gone(indexed)] == ["docs/deleted.md"]

    s3 = S3Root("bucket", "docs/")
    s3_docs = [
        _doc(key, f"s3://bucket/{key}")
        for key in ["docs/a.pdf", "docs/sub/b.pdf", "docs2/c.pdf", "other/d.pdf"]
    ]
    assert [d.doc_id for d in Discovery([s3]).gone(s3_docs)] == ["docs/a.pdf", "docs/sub/b.pdf"]
    # "s3://bucket/docs" is a key prefix, as in S3: docs2/ is under it
    assert len(Discovery([S3Root("bucket", "docs")]).gone(s3_docs)) == 3


def test_s3_objects_are_plain_values_with_safe_local_names() -> None:
    obj = S3Object("bucket", "a/b/Report 2025 (final).pdf", '"abc"', 10, 5, "pdf", "http://127.0.0.1:1")
    assert obj.uri == "s3://bucket/a/b/Report 2025 (final).pdf"
    assert obj.fingerprint() == "s3-etag:abc:10" and obj.stamp() == Stamp(10, 5)
    assert pickle.loads(pickle.dumps(obj)) == obj  # a pool in another process can fetch it
    assert _local_name(obj.key) == "Report 2025 _final_.pdf"
    assert _local_name("x/../..") == "object" and _local_name("a/" + "é" * 300 + ".pdf").endswith("é.pdf")
    assert len(_local_name("a/" + "n" * 300 + ".pdf")) == 120
    assert is_s3_uri("s3://b/p") and not is_s3_uri(Path("s3://b/p")) and not is_s3_uri("./s3:")
