"""Search end to end over real HTTP: indexed PDFs and a text file, a tiny random m0 checkpoint as
the reranker, on both stores. The hit order must be the reranker's, and its scores must equal
scores computed directly with M0Reranker on the same candidates."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from docstore.store import open_store
from reranker.types import ImageInput, TextInput
from tests.fixtures.api_server import StartServer, index_files

PDFS = ["pdflatex-4-pages.pdf", "multilang.pdf", "google-doc-document.pdf"]


def _corpus(shared_pdfs: Path, tmp_path: Path) -> list[Path]:
    note = tmp_path / "notes.md"
    note.write_text("# Field notes\n\nThis text is about letters, fonts and printed text samples.\n")
    return [shared_pdfs / name for name in PDFS] + [note]


def _direct_scores(tiny_m0_dir: Path, store_url: str, query: object, hits: list[dict]) -> list[float]:
    local = pytest.importorskip("reranker.m0.reranker")
    store = open_store(store_url)
    try:
        candidates = []
        for hit in hits:
            if hit["modality"] == "image":
                candidates.append(ImageInput(store.get_image(hit["page_id"], "image")))
            else:
                page = store.get_page(hit["page_id"])
                assert page is not None
                candidates.append(TextInput(page.text))
    finally:
        store.close()
    model = local.M0Reranker.from_pretrained(str(tiny_m0_dir))
    out = model.rerank(query, candidates)
    by_index = {r.index: r.relevance_score for r in out.results}
    return [by_index[i] for i in range(len(hits))]


@pytest.mark.slow
def test_hits_follow_reranker_scores(
    api_server: StartServer, api_store_url: str, shared_pdfs: Path, tiny_m0_dir: Path, tmp_path: Path
) -> None:
    assert index_files(api_store_url, _corpus(shared_pdfs, tmp_path)) >= 6
    server = api_server(api_store_url, reranker=f"local:{tiny_m0_dir}", anonymous=True)
    with server.client() as client:
        resp = client.post("/v1/search", json={"query": "text", "mode": "hybrid", "top_k": 8, "top_n": 8})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["reranked"] is True and body["rerank_reason"] is None
    hits = body["hits"]
    assert len(hits) >= 3 and body["total"] >= len(hits)
    # One call with mixed candidates: PDF pages as images, the markdown file as text.
    assert {"image", "text"} <= {h["modality"] for h in hits}
    scores = [h["rerank_score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(h["score"] == h["rerank_score"] for h in hits)
    expected = _direct_scores(tiny_m0_dir, api_store_url, "text", hits)
    assert expected == pytest.approx(scores, abs=1e-4)
    timings = body["timings_ms"]
    assert set(timings) == {
        "first_stage", "image_loading", "rerank", "rerank_queue", "rerank_inference", "highlights", "total"
    }  # fmt: skip
    assert timings["total"] >= timings["rerank"] > 0
    # The engine's queue and model time are parts of the rerank call the search waited for (each
    # rounded to a microsecond, hence the margin).
    assert timings["rerank_inference"] > 0 and timings["rerank_queue"] >= 0
    assert timings["rerank_queue"] + timings["rerank_inference"] <= timings["rerank"] + 0.01
    hit = hits[0]
    assert hit["image_url"] == f"/v1/pages/{hit['page_id']}/image"
    assert hit["document_url"] == f"/v1/documents/{hit['doc_id']}/file"
    assert 1 <= hit["page_number"] <= hit["page_count"]


def test_paging_and_rerank_off(
    api_server: StartServer, api_store_url: str, shared_pdfs: Path, tmp_path: Path
) -> None:
    index_files(api_store_url, _corpus(shared_pdfs, tmp_path))
    server = api_server(api_store_url, anonymous=True)
    with server.client() as client:
        full = client.post("/v1/search", json={"query": "text", "mode": "bm25", "top_n": 20}).json()
        page2 = client.post(
            "/v1/search", json={"query": "text", "mode": "bm25", "top_n": 2, "offset": 2}
        ).json()
    assert full["reranked"] is False and full["rerank_reason"] == "no reranker is configured"
    assert [h["page_id"] for h in page2["hits"]] == [h["page_id"] for h in full["hits"][2:4]]
    assert page2["total"] == full["total"] >= 4
    ranks = [h["first_stage_rank"] for h in full["hits"]]
    assert ranks == sorted(ranks)
    assert all(h["rerank_score"] is None and h["score"] == h["first_stage_score"] for h in full["hits"])
    assert any("<mark>" in h["snippet"] for h in full["hits"])


def _text_png(text: str) -> bytes:
    img = Image.new("RGB", (900, 160), "white")
    ImageDraw.Draw(img).text((20, 40), text, fill="black", font=ImageFont.load_default(size=64))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.slow
def test_image_query_uses_ocr_text_and_image_reranking(
    api_server: StartServer, api_store_url: str, shared_pdfs: Path, tiny_m0_dir: Path, tmp_path: Path
) -> None:
    index_files(api_store_url, _corpus(shared_pdfs, tmp_path))
    server = api_server(api_store_url, reranker=f"local:{tiny_m0_dir}", anonymous=True)
    png = _text_png("printed text")
    with server.client() as client:
        resp = client.post(
            "/v1/search/image", files={"image": ("q.png", png, "image/png")}, data={"top_k": "3"}
        )
        as_json = client.post(
            "/v1/search",
            json={
                "image": "data:image/png;base64," + base64.b64encode(png).decode(),
                "top_k": 3,
                "rerank": False,
            },
        )
        blank = io.BytesIO()
        Image.new("RGB", (200, 200), "white").save(blank, format="PNG")
        empty = client.post("/v1/search/image", files={"image": ("b.png", blank.getvalue(), "image/png")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    if "OCR is unavailable" in (body["rerank_reason"] or ""):
        pytest.skip("Tesseract is not installed")
    assert "text" in body["query"].lower() and body["hits"] and body["reranked"] is True
    assert {h["page_id"] for h in as_json.json()["hits"]} == {h["page_id"] for h in body["hits"]}
    scores = [h["rerank_score"] for h in body["hits"]]
    expected = _direct_scores(tiny_m0_dir, api_store_url, ImageInput(png), body["hits"])
    assert expected == pytest.approx(scores, abs=1e-4)
    # No readable text: an empty first stage, said plainly.
    assert empty.status_code == 200
    assert empty.json()["hits"] == [] and "no readable text" in empty.json()["rerank_reason"]


# Where the test PDF draws its one rare word (points on a US Letter page, baseline of the word).
PAGE_W, PAGE_H = 612, 792
WORD, WORD_X, WORD_Y, WORD_SIZE = "zeppelin", 300.0, 500.0, 14.0


def _drawn_pdf(path: Path) -> Path:
    """Page 1 holds WORD at a known place among other words; page 2 does not hold it."""
    doc = pymupdf.open()
    first = doc.new_page(width=PAGE_W, height=PAGE_H)
    first.insert_text((72, 100), "Balloons and airships over the bay", fontname="helv", fontsize=16)
    first.insert_text((72, WORD_Y), "A rare sight:", fontname="helv", fontsize=WORD_SIZE)
    first.insert_text((WORD_X, WORD_Y), WORD, fontname="helv", fontsize=WORD_SIZE)
    second = doc.new_page(width=PAGE_W, height=PAGE_H)
    second.insert_text((72, 100), "Gliders ride the thermals of the valley", fontname="helv", fontsize=16)
    doc.save(path)
    doc.close()
    return path


def test_highlights_mark_the_drawn_word(api_server: StartServer, api_store_url: str, tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Sightings\n\nA zeppelin crossed the bay.\n")
    assert index_files(api_store_url, [_drawn_pdf(tmp_path / "airships.pdf"), notes]) == 3
    server = api_server(api_store_url, anonymous=True)
    with server.client() as client:
        # the plural: the page holds the word's stem only, which BM25 and the boxes both match
        bm25 = client.post("/v1/search", json={"query": "zeppelins", "mode": "bm25"}).json()
        knn = client.post("/v1/search", json={"query": WORD, "mode": "knn", "top_n": 10}).json()
        hit = next(h for h in bm25["hits"] if h["kind"] == "pdf")
        page = client.get(f"/v1/pages/{hit['page_id']}", params={"q": "zeppelins"})
        bare = client.get(f"/v1/pages/{hit['page_id']}").json()
        missing = client.get("/v1/pages/nothing:1", params={"q": WORD})
        png = "data:image/png;base64," + base64.b64encode(_text_png(WORD)).decode()
        by_image = client.post("/v1/search", json={"image": png, "mode": "bm25"}).json()
    assert hit["page_number"] == 1 and hit["highlights_note"] is None
    (box,) = hit["highlights"]
    # x: where the word was drawn and as wide as the font sets it; y: its letters above the baseline
    width = pymupdf.get_text_length(WORD, fontname="helv", fontsize=WORD_SIZE)
    assert box["x0"] == pytest.approx(WORD_X / PAGE_W, abs=0.004)
    assert box["x1"] == pytest.approx((WORD_X + width) / PAGE_W, abs=0.004)
    baseline = WORD_Y / PAGE_H
    assert baseline - 1.3 * WORD_SIZE / PAGE_H < box["y0"] < baseline - 0.6 * WORD_SIZE / PAGE_H
    assert baseline - 0.002 < box["y1"] < baseline + 0.4 * WORD_SIZE / PAGE_H
    assert all(round(v, 4) == v for v in box.values())
    assert "highlights" in bm25["timings_ms"]
    text_hit = next(h for h in bm25["hits"] if h["kind"] == "text")
    assert text_hit["highlights"] is None and "text document" in text_hit["highlights_note"]
    # the page route gives the same boxes for the same query, and none without one
    assert page.status_code == 200, page.text
    assert page.json()["highlights"] == hit["highlights"] and page.json()["page_id"] == hit["page_id"]
    assert bare["highlights"] is None and bare["highlights_note"] == "no query was given"
    assert missing.status_code == 404
    # a kNN hit on a page without the word: an empty list, and why
    other = next(h for h in knn["hits"] if h["kind"] == "pdf" and h["page_number"] == 2)
    assert other["highlights"] == [] and "no word of the query" in other["highlights_note"]
    # an image query has no typed words (its OCR text found the hits)
    if by_image["hits"]:
        assert all(h["highlights"] is None for h in by_image["hits"])
        assert all("image query" in h["highlights_note"] for h in by_image["hits"])
    else:
        assert "OCR is unavailable" in (by_image["rerank_reason"] or "")


def test_bm25_feedback_finds_pages_that_use_other_words(api_server: StartServer, tmp_path: Path) -> None:
    notes = {
        "a": "The lung carcinoma was seen in a pulmonary biopsy taken from the patient last week.",
        "b": "Results of the pulmonary biopsy confirmed a lung carcinoma in the upper lobe of the patient.",
        "c": "A biopsy of the lung showed carcinoma cells, and the pulmonary function of the patient was low.",
        "other-words": "The pulmonary biopsy of the patient confirmed a carcinoma in the upper lobe.",
        "off-topic": "Kidney transplants went well, and dialysis was stopped soon after that operation.",
    }
    for name, text in notes.items():
        (tmp_path / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path}/feedback.db"
    assert index_files(url, sorted(tmp_path.glob("*.txt"))) == len(notes)
    server = api_server(url, anonymous=True)
    found = {}
    with server.client() as client:
        for feedback in (False, True):
            body = {"query": "lung", "mode": "bm25", "rerank": False, "feedback": feedback}
            resp = client.post("/v1/search", json=body)
            assert resp.status_code == 200, resp.text
            found[feedback] = [Path(hit["source"]).stem for hit in resp.json()["hits"]]
    assert sorted(found[False]) == ["a", "b", "c"]
    assert sorted(found[True][:3]) == ["a", "b", "c"] and found[True][3:] == ["other-words"]
