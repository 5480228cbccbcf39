"""Search end to end over real HTTP: indexed PDFs and a text file, a tiny random m0 checkpoint as
the reranker, on both stores. The hit order must be the reranker's, and its scores must equal
scores computed directly with M0Reranker on the same candidates."""

from __future__ import annotations

import base64
import io
from pathlib import Path

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
    assert set(body["timings_ms"]) == {"first_stage", "image_loading", "rerank", "total"}
    assert body["timings_ms"]["total"] >= body["timings_ms"]["rerank"] > 0
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
