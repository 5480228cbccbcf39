"""The engine's counters as Prometheus metrics, the same names on `folio serve` and
`folio rerank-server` (each registers this collector in its own registry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reranker.serving.engine import RerankEngine


class EngineCollector(Collector):
    """Reads the engine's stats at scrape time; nothing is counted twice or kept in step by hand.
    `get_engine()` may return None (a model still loading, or no reranker configured)."""

    def __init__(self, get_engine: Callable[[], RerankEngine | None]) -> None:
        self._get_engine = get_engine

    def collect(self) -> Iterator[Metric]:
        engine = self._get_engine()
        if engine is None:
            return
        s = engine.stats
        counters = (
            ("folio_rerank_requests", "rerank calls admitted by the engine", s.requests),
            ("folio_rerank_rejected", "calls refused because the queue was full (Overloaded)", s.rejected),
            ("folio_rerank_expired", "calls past their deadline (DeadlineExceeded)", s.expired),
            ("folio_rerank_batches", "scorer calls (batches of one or more calls)", s.batches),
            ("folio_rerank_failed_batches", "scorer calls that failed as a whole", s.failed_batches),
            ("folio_rerank_pairs", "(query, document) pairs scored", s.pairs),
        )
        for name, doc, value in counters:
            yield CounterMetricFamily(name, doc, value=value)
        gauges = (
            ("folio_rerank_queue_depth", "calls waiting for the scorer", engine.queue_depth),
            ("folio_rerank_in_flight", "calls being scored", engine.in_flight),
            ("folio_rerank_max_batch_pairs", "largest batch seen, in pairs", s.max_batch_pairs_seen),
            ("folio_rerank_max_batch_requests", "largest batch seen, in calls", s.max_batch_requests_seen),
        )
        for name, doc, value in gauges:
            yield GaugeMetricFamily(name, doc, value=value)
