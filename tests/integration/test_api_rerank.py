"""`POST /v1/rerank` speaks the Jina rerank contract: the same request a Jina client sends, the
same response shape, scores equal to the local model's, and image URLs fetched only when enabled
and never from private addresses."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from reranker.types import ImageInput
from tests.fixtures.api_server import StartServer


def _png_b64(color: str) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (120, 90), color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.slow
def test_jina_contract_with_tiny_m0(api_server: StartServer, tmp_path: Path, tiny_m0_dir: Path) -> None:
    local = pytest.importorskip("reranker.m0.reranker")
    server = api_server(f"sqlite:///{tmp_path}/r.db", reranker=f"local:{tiny_m0_dir}")
    key = server.create_key(["g"])
    red, blue = _png_b64("red"), _png_b64("blue")
    docs: list[object] = [
        "organic farming",
        {"text": "slm markdown"},
        {"image": red},
        {"image": f"data:image/png;base64,{blue}"},
    ]
    request = {"model": "jina-reranker-m0", "query": "slm markdown", "documents": docs, "top_n": 3}
    with server.client(key) as client:
        resp = client.post("/v1/rerank", json=request)
        no_docs = client.post("/v1/rerank", json={**request, "return_documents": False})
        image_query = client.post(
            "/v1/rerank", json={"query": {"image": red}, "documents": ["a red square", {"image": blue}]}
        )
        url_refused = client.post(
            "/v1/rerank", json={"query": "x", "documents": [{"image": "http://example.com/a.png"}]}
        )
        corrupt = client.post(
            "/v1/rerank", json={"query": "x", "documents": ["ok", {"image": "bm90IGFuIGltYWdl"}]}
        )
        empty = client.post("/v1/rerank", json={"query": "x", "documents": []})
    with server.client() as anonymous:
        assert anonymous.post("/v1/rerank", json=request).status_code == 401
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"model", "usage", "results"} and body["usage"]["total_tokens"] >= 0
    results = body["results"]
    assert len(results) == 3
    assert [r["relevance_score"] for r in results] == sorted(
        (r["relevance_score"] for r in results), reverse=True
    )
    model = local.M0Reranker.from_pretrained(str(tiny_m0_dir))
    raw = [base64.b64decode(red), base64.b64decode(blue)]
    direct = model.rerank(
        "slm markdown", ["organic farming", "slm markdown", ImageInput(raw[0]), ImageInput(raw[1])]
    )
    expected = {r.index: r.relevance_score for r in direct.results}
    for r in results:
        assert r["relevance_score"] == pytest.approx(expected[r["index"]], abs=1e-4)
        wire = docs[r["index"]]
        assert r["document"] == ({"text": wire} if isinstance(wire, str) else wire)
    assert [r["index"] for r in results] == [r.index for r in direct.results[:3]]
    assert all("document" not in r for r in no_docs.json()["results"])
    assert image_query.status_code == 200 and {r["index"] for r in image_query.json()["results"]} == {0, 1}
    assert url_refused.status_code == 400 and "disabled" in url_refused.json()["detail"]
    assert corrupt.status_code == 400 and "documents[1]" in corrupt.json()["detail"]
    assert empty.status_code == 422


def test_image_urls_never_reach_private_addresses(api_server: StartServer, tmp_path: Path) -> None:
    server = api_server(
        f"sqlite:///{tmp_path}/r.db", reranker="remote:http://127.0.0.1:9", anonymous=True,
        env={"FOLIO_ALLOW_IMAGE_URLS": "true"},
    )  # fmt: skip
    with server.client() as client:
        for url in ("http://127.0.0.1:8080/a.png", "http://localhost/a.png", "http://169.254.169.254/latest",
                    "http://10.0.0.1/a.png", "http://[::1]/a.png", "file:///etc/passwd"):  # fmt: skip
            resp = client.post("/v1/rerank", json={"query": "x", "documents": [{"image": url}]})
            assert resp.status_code == 400, (url, resp.text)
            assert "documents[0]" in resp.json()["detail"]
