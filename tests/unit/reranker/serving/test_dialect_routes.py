"""The rerank router's dialects over a deterministic scorer: Cohere v2 (`/v2/rerank`), vLLM's score
(`/score`, `/v1/score`) and content documents on the Jina route, `/v1/models`; every route behind the
same key, every bad request a 4xx with a message, truncation passed to the scorer as asked."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from reranker.serving.router import build_rerank_router
from reranker.serving.server import RerankServerSettings, create_rerank_app
from reranker.types import ImageInput, TextInput
from tests.unit.reranker.serving.fake_scorer import FakeScorer, fake_score

DOCS = ["alpha beta gamma delta", "quarterly revenue", "small language models"]
AUTH = {"Authorization": "Bearer k"}


def _png_url() -> tuple[bytes, str]:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    return buf.getvalue(), "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


PNG, PNG_URL = _png_url()


@pytest.fixture
def served() -> Iterator[tuple[TestClient, FakeScorer]]:
    scorer = FakeScorer()
    app = create_rerank_app(RerankServerSettings(api_key="k", batch_window_ms=0), scorer=scorer)
    with TestClient(app) as client:
        yield client, scorer


def _post(client: TestClient, path: str, body: Any) -> Any:
    return client.post(path, json=body, headers=AUTH)


def test_cohere_v2_ranks_cuts_and_reports_meta(served) -> None:
    client, _ = served
    r = _post(client, "/v2/rerank", {"model": "rerank-v3.5", "query": "q", "documents": DOCS, "top_n": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"id", "results", "meta"} and body["id"]
    expected = sorted(range(3), key=lambda i: -fake_score("q", DOCS[i]))[:2]
    assert [x["index"] for x in body["results"]] == expected
    assert [x["relevance_score"] for x in body["results"]] == [fake_score("q", DOCS[i]) for i in expected]
    assert all(set(x) == {"index", "relevance_score"} for x in body["results"])
    assert body["meta"] == {
        "api_version": {"version": "2"},
        "billed_units": {"search_units": 1},
        "tokens": {"input_tokens": 3 * FakeScorer.TOKENS_PER_PAIR, "output_tokens": 0},
    }
    docs = _post(client, "/v2/rerank", {"query": "q", "documents": [{"text": "t"}], "return_documents": True})
    assert docs.json()["results"][0]["document"] == {"text": "t"}


@pytest.mark.parametrize(
    ("path", "field"), [("/v2/rerank", "max_tokens_per_doc"), ("/v1/rerank", "max_tokens_per_doc"),
                        ("/v1/rerank", "truncate_prompt_tokens"), ("/score", "truncate_prompt_tokens")]
)  # fmt: skip
def test_each_dialects_truncation_reaches_the_scorer(served, path: str, field: str) -> None:
    client, scorer = served
    body: dict[str, Any] = (
        {"text_1": "q", "text_2": DOCS} if path == "/score" else {"query": "q", "documents": DOCS}
    )
    r = _post(client, path, {**body, field: 2})
    assert r.status_code == 200, r.text
    assert scorer.batch_limits == [2]
    scores = r.json()["data"] if path == "/score" else r.json()["results"]
    got = {x["index"]: x.get("score", x.get("relevance_score")) for x in scores}
    assert got == {i: fake_score("q", d, 2) for i, d in enumerate(DOCS)}


def test_the_jina_path_takes_the_tightest_cap_and_no_cap_by_default(served) -> None:
    client, scorer = served
    base = {"query": "q", "documents": DOCS}
    for extra in (
        {},
        {"truncation": True},
        {"truncate_prompt_tokens": -1},
        {"max_tokens_per_doc": 3, "truncate_prompt_tokens": 5},
    ):
        assert _post(client, "/v1/rerank", {**base, **extra}).status_code == 200
    assert scorer.batch_limits == [None, None, None, 3]


def test_vllm_score_pairs_one_to_many_and_many_to_many(served) -> None:
    client, _ = served
    one = _post(client, "/score", {"model": "jina-reranker-m0", "text_1": "q", "text_2": DOCS})
    assert one.status_code == 200, one.text
    body = one.json()
    assert set(body) == {"id", "object", "created", "model", "data", "usage"} and body["object"] == "list"
    assert body["model"] == "jina-reranker-m0" and body["id"].startswith("score-")
    assert body["data"] == [
        {"index": i, "object": "score", "score": fake_score("q", d)} for i, d in enumerate(DOCS)
    ]
    n = 3 * FakeScorer.TOKENS_PER_PAIR
    assert body["usage"] == {"prompt_tokens": n, "total_tokens": n, "completion_tokens": 0}
    queries = ["q1", "q2", "q3"]
    many = _post(client, "/v1/score", {"text_1": queries, "text_2": DOCS}).json()
    assert [x["score"] for x in many["data"]] == [
        fake_score(q, d) for q, d in zip(queries, DOCS, strict=True)
    ]
    assert many["model"] == "fake-m0"
    # newer vLLM names for the two sides
    renamed = _post(client, "/score", {"queries": ["q"], "documents": DOCS}).json()
    assert [x["score"] for x in renamed["data"]] == [x["score"] for x in body["data"]]


def test_content_parts_are_documents_on_score_and_rerank(served) -> None:
    client, _ = served
    image = {"type": "image_url", "image_url": {"url": PNG_URL}}
    text = {"type": "text", "text": DOCS[0]}
    expected = [fake_score("q", ImageInput(PNG)), fake_score("q", TextInput(DOCS[0]))]
    score = _post(client, "/score", {"text_1": "q", "text_2": {"content": [image, text]}})
    assert [x["score"] for x in score.json()["data"]] == expected
    for documents in ({"content": [image, text]}, [{"content": [image]}, {"content": [text]}]):
        r = _post(client, "/v1/rerank", {"query": "q", "documents": documents})
        assert r.status_code == 200, r.text
        echoed = {x["index"]: (x["relevance_score"], x["document"]) for x in r.json()["results"]}
        assert echoed == {0: (expected[0], {"image": PNG_URL}), 1: (expected[1], {"text": DOCS[0]})}
    # an image query given as content, on vLLM's own path for the rerank shape
    r = _post(client, "/rerank", {"query": {"content": [image]}, "documents": ["a"]})
    assert r.json()["results"][0]["relevance_score"] == fake_score(ImageInput(PNG), "a")


def test_models_lists_the_served_model(served) -> None:
    client, _ = served
    r = client.get("/v1/models", headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list" and len(body["data"]) == 1
    assert body["data"][0]["id"] == "fake-m0" and body["data"][0]["object"] == "model"
    assert body["data"][0]["owned_by"] == "folio" and isinstance(body["data"][0]["created"], int)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/v1/rerank", {"query": "q", "documents": ["a"]}), ("POST", "/rerank", {"query": "q", "documents": ["a"]}),
     ("POST", "/v2/rerank", {"query": "q", "documents": ["a"]}), ("POST", "/score", {"text_1": "q", "text_2": "a"}),
     ("POST", "/v1/score", {"text_1": "q", "text_2": "a"}), ("GET", "/v1/models", None)],
)  # fmt: skip
def test_every_route_needs_the_key(served, method: str, path: str, body: Any) -> None:
    client, _ = served
    assert client.request(method, path, json=body).status_code == 401
    assert client.request(method, path, json=body, headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/v2/rerank", {"query": "q", "documents": []}, "documents"),
        ("/v2/rerank", {"query": "q", "documents": [{"image": PNG_URL}]}, 'documents[0]: must be a string or {"text": ...}'),
        ("/v2/rerank", {"query": " ", "documents": ["a"]}, "query: the query text is empty"),
        ("/v2/rerank", {"query": "q", "documents": ["a"], "max_tokens_per_doc": 0}, "max_tokens_per_doc"),
        ("/v2/rerank", {"documents": ["a"]}, "query"),
        ("/score", {"text_1": ["a", "b"], "text_2": DOCS}, "must be 1:N or N:N, not 2:3"),
        ("/score", {"text_1": "q"}, "text_2"),
        ("/score", {"text_1": "", "text_2": "a"}, "text_1[0]: the query text is empty"),
        ("/score", {"text_1": "q", "text_2": [{"content": [{"type": "text", "text": "a"}] * 2}]}, "text_2[0]: has 2 content parts"),
        ("/score", {"text_1": "q", "text_2": {"content": [{"type": "image_url", "image_url": {"url": "bm90IGFuIGltYWdl"}}]}}, "text_2[0]"),
        ("/score", {"text_1": "q", "text_2": "a", "truncate_prompt_tokens": -2}, "truncate_prompt_tokens"),
        ("/v1/rerank", {"query": "q", "documents": [{"content": []}]}, "documents[0]"),
        ("/v1/rerank", {"query": "q", "documents": {"content": []}}, "documents"),
        ("/v1/rerank", {"query": "q", "documents": ["a"], "max_tokens_per_doc": -1}, "max_tokens_per_doc"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_4xx_with_detail_and_message(served, path: str, body: Any, needle: str) -> None:
    client, _ = served
    r = _post(client, path, body)
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.json()["detail"], r.json()
    if path != "/v1/rerank":  # Cohere's and OpenAI-style clients show `message`
        assert r.json()["message"] == r.json()["detail"]


def test_a_dialect_waits_for_a_loading_model_like_the_jina_route() -> None:
    app = FastAPI()
    app.include_router(build_rerank_router(lambda: None, lambda: None))
    with TestClient(app) as client:
        for method, path, body in (("POST", "/v2/rerank", {"query": "q", "documents": ["a"]}),
                                   ("POST", "/score", {"text_1": "q", "text_2": "a"}), ("GET", "/v1/models", None)):  # fmt: skip
            r = client.request(method, path, json=body)
            assert (
                r.status_code == 503 and r.headers["retry-after"] and "not available" in r.json()["message"]
            )
