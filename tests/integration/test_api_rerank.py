"""`POST /v1/rerank` speaks the Jina rerank contract: the same request a Jina client sends, the
same response shape, scores equal to the local model's, and image URLs fetched only when enabled
and never from private addresses."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
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
    assert url_refused.status_code == 422 and "disabled" in url_refused.json()["detail"]
    assert corrupt.status_code == 422 and "documents[1]" in corrupt.json()["detail"]
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
            assert resp.status_code == 422, (url, resp.text)
            assert "documents[0]" in resp.json()["detail"]


@pytest.mark.slow
def test_haystack_jina_ranker_works_against_folio_serve(
    api_server: StartServer, tmp_path: Path, tiny_m0_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same third-party Jina client that the rerank server is tested with, against `folio serve`
    (the one rerank router is mounted by both)."""
    monkeypatch.setenv("HAYSTACK_TELEMETRY_ENABLED", "False")
    haystack = pytest.importorskip("haystack")
    from haystack.utils import Secret
    from haystack_integrations.components.rankers.jina import JinaRanker

    from reranker.m0.reranker import M0Reranker

    server = api_server(f"sqlite:///{tmp_path}/h.db", reranker=f"local:{tiny_m0_dir}")
    key = server.create_key(["g"])
    docs = ["a note on photosynthesis in plants", "quarterly revenue table", "small language models"]
    ranker = JinaRanker(
        model="jina-reranker-m0", api_key=Secret.from_token(key), base_url=f"{server.base_url}/v1/rerank"
    )
    out = ranker.run(query="plants", documents=[haystack.Document(content=d) for d in docs], top_k=2)
    model = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", dtype="float32")
    try:
        expected = model.rerank("plants", docs, top_n=2).results
    finally:
        model.close()
    assert [d.content for d in out["documents"]] == [docs[r.index] for r in expected]
    assert [d.score for d in out["documents"]] == pytest.approx(
        [r.relevance_score for r in expected], abs=1e-4
    )
    assert out["meta"]["usage"]["total_tokens"] > 0


def test_one_document_limit_on_both_servers(api_server: StartServer, tmp_path: Path) -> None:
    """`folio serve` and `folio rerank-server` mount the same router: the same limit, the same 422."""
    from reranker.dialects.jina import MAX_DOCUMENTS
    from reranker.serving.server import RerankServerSettings, create_rerank_app
    from tests.integration.rerank_http import serve_app
    from tests.unit.reranker.serving.fake_scorer import FakeScorer

    too_many = {"query": "q", "documents": ["d"] * (MAX_DOCUMENTS + 1)}
    just_right = {"query": "q", "documents": ["d"] * MAX_DOCUMENTS}
    api = api_server(f"sqlite:///{tmp_path}/l.db", reranker="none", anonymous=True)
    with api.client() as client:
        refused_api = client.post("/v1/rerank", json=too_many)
        no_reranker = client.post("/v1/rerank", json=just_right)
    with serve_app(create_rerank_app(RerankServerSettings(), scorer=FakeScorer())) as url:
        refused_server = httpx.post(f"{url}/v1/rerank", json=too_many, timeout=30)
        served = httpx.post(f"{url}/v1/rerank", json=just_right, timeout=30)
    assert refused_api.status_code == refused_server.status_code == 422
    assert refused_api.json()["detail"] == refused_server.json()["detail"]
    assert f"at most {MAX_DOCUMENTS}" in refused_api.json()["detail"]
    assert no_reranker.status_code == 503 and served.status_code == 200
