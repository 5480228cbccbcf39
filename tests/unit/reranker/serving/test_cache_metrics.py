"""How a rerank server reports its caches: the Jina route counts the documents of a call whose
prefix was already computed in a `Folio-Cache-Hits` header, the engine adds them up in
`folio_rerank_cache_hits`, and a scorer with byte-bounded caches shows their fill on `/metrics`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi.testclient import TestClient

from reranker.dialects.jina import CACHE_HITS_HEADER
from reranker.lru import ByteLRU, LRUFront
from reranker.serving.server import RerankServerSettings, create_rerank_app
from reranker.types import Candidate, Query, RerankScores
from tests.unit.reranker.serving.fake_scorer import FakeScorer


class CachingScorer(FakeScorer):
    """A FakeScorer that also keeps each document it scored in a byte-bounded LRU, as the model does."""

    def __init__(self) -> None:
        super().__init__()
        self._lru = ByteLRU[str](1000, len)
        self.prefix = LRUFront(self._lru)

    def score_pairs(
        self, pairs: Sequence[tuple[Query, Candidate]], max_doc_tokens: int | None = None
    ) -> RerankScores:
        for _, doc in pairs:
            self._lru.put(str(doc), str(doc))
        return super().score_pairs(pairs, max_doc_tokens)

    def caches(self) -> dict[str, LRUFront[str]]:
        return {"prefix": self.prefix}


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in:\n{text}"
    return float(match.group(1))


def test_the_server_reports_cache_hits_per_call_and_in_total_and_its_caches_fill() -> None:
    scorer = CachingScorer()
    app = create_rerank_app(RerankServerSettings(batch_window_ms=0), scorer=scorer)
    docs = ["alpha beta", "gamma", "delta epsilon"]
    with TestClient(app) as client:
        first = client.post("/v1/rerank", json={"query": "q1", "documents": docs})
        second = client.post("/v1/rerank", json={"query": "q2", "documents": [docs[0], "new one", docs[2]]})
        metrics = client.get("/metrics").text
    assert first.status_code == second.status_code == 200
    assert first.headers[CACHE_HITS_HEADER] == "0" and second.headers[CACHE_HITS_HEADER] == "2"
    assert _metric(metrics, "folio_rerank_cache_hits_total") == 2
    assert _metric(metrics, "folio_rerank_pairs_total") == 6
    assert _metric(metrics, 'folio_rerank_cache_entries{cache="prefix"}') == 4
    assert _metric(metrics, 'folio_rerank_cache_bytes{cache="prefix"}') == sum(
        len(d) for d in [*docs, "new one"]
    )
    assert _metric(metrics, 'folio_rerank_cache_capacity_bytes{cache="prefix"}') == 1000
    assert "folio_rerank_pool_" not in metrics  # a single model is no pool


def test_a_scorer_without_caches_shows_no_cache_fill() -> None:
    app = create_rerank_app(RerankServerSettings(batch_window_ms=0), scorer=FakeScorer())
    with TestClient(app) as client:
        client.post("/v1/rerank", json={"query": "q", "documents": ["a", "a"]})
        metrics = client.get("/metrics").text
    assert _metric(metrics, "folio_rerank_cache_hits_total") == 1  # the fake's second "a"
    assert "folio_rerank_cache_bytes" not in metrics
