"""`folio search` end to end on a real SQLite file, through the `folio` dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docstore.embedders import get_embedder
from docstore.embedders.binding import record_embedder
from docstore.schema import MAX_TOP_K, Page, page_id
from docstore.sqlite.store import SqliteStore
from docstore.word_boxes import WordBox, encode_word_boxes
from search_api.main import main

TEXTS = {
    "a": "Glaciers retreat as the climate warms.",
    "b": "The <b>tax</b> report for glaciers tourism.",
    "c": "東京の地下鉄の路線図",
}


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli/folio.db"
    store = SqliteStore(url)
    embedder = get_embedder("hash:64")
    record_embedder(store, embedder)
    vectors = embedder.encode(list(TEXTS.values()))
    pages = [
        Page(
            page_id=page_id(doc, 2),
            doc_id=doc,
            collection="geo" if doc != "c" else "travel",
            source=f"/data/{doc}.pdf",
            content_hash="h",
            page_number=2,
            page_count=3,
            title=doc.upper(),
            text=text,
            language="ja" if doc == "c" else "en",
            embedding=vec.tolist(),
        )
        for (doc, text), vec in zip(TEXTS.items(), vectors, strict=True)
    ]
    store.upsert_pages(pages)
    store.close()
    return url


@pytest.mark.parametrize("mode", ["bm25", "knn", "hybrid"])
def test_json_output_has_the_documented_fields(
    store_url: str, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "glaciers", "--mode", mode, "--json", "--store", store_url, "--top-k", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"] == "glaciers" and out["mode"] == mode
    assert 1 <= len(out["hits"]) <= 2
    first = out["hits"][0]
    assert set(first) == {
        "source",
        "page_number",
        "score",
        "snippet",
        "doc_id",
        "page_id",
        "title",
        "collection",
        "highlights",
        "highlights_note",
    }
    assert first["source"] in ("/data/a.pdf", "/data/b.pdf") and first["page_number"] == 2
    # these pages carry no word positions, and say so (test_page_highlights.py has pages that do)
    assert first["highlights"] is None and "before word positions were kept" in first["highlights_note"]
    assert "<mark>" in first["snippet"].lower()


def test_text_output_renders_marks_and_unescapes(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "tax", "--mode", "bm25", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "/data/b.pdf" in out and "p.2/3" in out
    assert "<b>[tax]</b>" in out  # marks as brackets when not a terminal; page markup shown as text


def test_collection_filter_and_store_from_environment(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLIO_STORE", store_url)
    assert main(["search", "地下鉄", "--json", "--collection", "travel"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert [h["doc_id"] for h in hits] == ["c"]
    assert main(["search", "地下鉄", "--json", "--collection", "geo", "--mode", "bm25"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"] == []


def test_missing_store_and_bad_arguments_fail_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"sqlite:///{tmp_path}/nothing/here.db"
    assert main(["search", "x", "--store", missing]) == 1
    assert "empty or missing" in capsys.readouterr().err
    assert not (tmp_path / "nothing" / "here.db").exists()  # searching never creates a store
    assert main(["search", "x", "--store", "ftp://nope"]) == 2
    assert "unsupported store URL" in capsys.readouterr().err
    assert main(["search", "x", "--top-k", "0", "--store", missing]) == 2
    assert main(["search", "x", "--top-k", str(MAX_TOP_K + 1), "--store", missing]) == 2
    assert f"between 1 and {MAX_TOP_K}" in capsys.readouterr().err


def test_knn_on_a_store_without_vectors_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/plain.db"
    store = SqliteStore(url)
    store.upsert_pages([Page(page_id=page_id("d", 1), doc_id="d", source="/d.txt", content_hash="h", page_number=1,
                             page_count=1, kind="text", text="plain words")])  # fmt: skip
    store.close()
    assert main(["search", "plain", "--mode", "knn", "--store", url]) == 1
    assert "--mode bm25" in capsys.readouterr().err
    assert main(["search", "plain", "--json", "--store", url]) == 0  # hybrid falls back to bm25
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "bm25" and out["hits"][0]["page_id"] == "d:1"


def test_json_hits_carry_the_highlight_boxes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/boxes.db"
    store = SqliteStore(url)
    text = "Glaciers retreat"
    boxes = [WordBox(0, 8, 0.1, 0.2, 0.3, 0.25), WordBox(9, 16, 0.32, 0.2, 0.5, 0.25)]
    store.upsert_pages([Page(page_id=page_id("g", 1), doc_id="g", source="/g.pdf", content_hash="h", page_number=1,
                             page_count=1, language="en", text=text, word_boxes=encode_word_boxes(boxes))])  # fmt: skip
    store.close()
    assert main(["search", "glacier", "--mode", "bm25", "--json", "--store", url]) == 0
    (hit,) = json.loads(capsys.readouterr().out)["hits"]
    assert (
        hit["highlights"] == [{"x0": 0.1, "y0": 0.2, "x1": 0.3, "y1": 0.25}]
        and hit["highlights_note"] is None
    )


def test_feedback_expands_bm25_and_is_refused_elsewhere(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "tax", "--json", "--mode", "bm25", "--store", store_url]) == 0
    assert [h["doc_id"] for h in json.loads(capsys.readouterr().out)["hits"]] == ["b"]
    # the page found for "tax" also speaks of glaciers: feedback finds the other glacier page
    assert main(["search", "tax", "--json", "--mode", "bm25", "--feedback", "--store", store_url]) == 0
    assert [h["doc_id"] for h in json.loads(capsys.readouterr().out)["hits"]] == ["b", "a"]
    assert main(["search", "tax", "--feedback", "--store", store_url]) == 1
    assert "--feedback applies to --mode bm25, not hybrid" in capsys.readouterr().err
