"""Usage (`usage.total_tokens`) comes from the inputs the scoring prepared: the server does not read,
decode or tokenise a request a second time, and requests batched together each get their own count."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from reranker.batcher import DynamicBatcher
from reranker.serving.server import RerankServerSettings, create_rerank_app
from reranker.types import ImageInput
from tests.unit.reranker.m0.conftest import png_bytes

PAGE = png_bytes(120, 90, seed=5)


def test_server_usage_is_counted_while_scoring(m0, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = ["a note on small language models", ImageInput(PAGE), ""]  # the empty text fails: 0 tokens
    expected = m0.count_tokens([("slm markdown", d) for d in docs])  # the separate count, before scoring
    recounts: list[object] = []
    monkeypatch.setattr(m0, "count_tokens", lambda pairs: recounts.append(pairs) or 0)
    app = create_rerank_app(RerankServerSettings(batch_window_ms=0), scorer=m0)
    body = {"query": "slm markdown", "documents": [docs[0], {"image": base64.b64encode(PAGE).decode()}]}
    with TestClient(app) as client:
        response = client.post("/v1/rerank", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["total_tokens"] == expected > 0
    assert recounts == []  # no second pass over the request


def test_batched_requests_each_get_their_own_usage(m0) -> None:
    one = [("first query", "alpha beta gamma"), ("first query", ImageInput(PAGE))]
    two = [("a second, longer query about tables", "delta")]
    batcher = DynamicBatcher(m0, max_batch_pairs=64, window_ms=0)
    try:
        batcher.pause()  # both requests queue, then run as one model call
        futures = [batcher.submit(one), batcher.submit(two)]
        batcher.resume()
        results = [f.result(timeout=120) for f in futures]
    finally:
        batcher.close()
    assert batcher.stats.batches == 1 and batcher.stats.max_batch_requests_seen == 2
    assert [r.tokens for r in results] == [m0.count_tokens(one), m0.count_tokens(two)]
    assert results[0].tokens > results[1].tokens > 0
