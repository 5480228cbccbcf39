"""Usage (`usage.total_tokens`) comes from the inputs the scoring prepared: the server does not read,
decode or tokenise a request a second time, and calls batched together each get their own count."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from reranker.serving.engine import EngineLimits, RerankEngine
from reranker.serving.server import RerankServerSettings, create_rerank_app
from reranker.types import ImageInput
from tests.unit.reranker.m0.conftest import png_bytes
from tests.unit.reranker.m0.token_count import count_tokens

PAGE = png_bytes(120, 90, seed=5)


def test_server_usage_is_what_the_scoring_counted(m0) -> None:
    docs = ["a note on small language models", ImageInput(PAGE)]
    expected = count_tokens(m0, [("slm markdown", d) for d in docs])  # an independent count
    app = create_rerank_app(RerankServerSettings(batch_window_ms=0), scorer=m0)
    body = {"query": "slm markdown", "documents": [docs[0], {"image": base64.b64encode(PAGE).decode()}]}
    with TestClient(app) as client:
        response = client.post("/v1/rerank", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["total_tokens"] == expected > 0


def test_a_failed_pair_costs_nothing(m0) -> None:
    scored = m0.score_pairs([("q", "some text"), ("q", "")])  # the empty document cannot be scored
    assert scored.pair_tokens[1] == 0 and scored.pair_tokens[0] == count_tokens(m0, [("q", "some text")])
    assert scored.total_tokens == scored.pair_tokens[0]


def test_batched_calls_each_get_their_own_usage(m0) -> None:
    one = ["alpha beta gamma", ImageInput(PAGE)]
    two = ["delta"]
    # A long window that closes once both calls are queued: one scorer call.
    engine = RerankEngine(m0, EngineLimits(window_ms=60_000, max_batch_requests=2))
    try:
        futures = [engine.submit("first query", one), engine.submit("a second, longer query about tables", two)]
        results = [f.result(timeout=120) for f in futures]
    finally:
        engine.close(close_scorer=False)
    assert engine.stats.batches == 1 and engine.stats.max_batch_requests_seen == 2
    assert [r.total_tokens for r in results] == [
        count_tokens(m0, [("first query", d) for d in one]),
        count_tokens(m0, [("a second, longer query about tables", d) for d in two]),
    ]
    assert results[0].total_tokens > results[1].total_tokens > 0
