"""The engine's counters as Prometheus metrics, the same names on `folio serve` and
`folio rerank-server` (each registers this collector in its own registry); the fill of the model's
caches when the scorer is the local model; and per server of a rerank pool when the scorer is one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reranker.backends.pool import ServerStats
from reranker.lru import LRUFront
from reranker.serving.engine import RerankEngine


@runtime_checkable
class PoolStats(Protocol):
    """A scorer spread over several servers (`RemotePool`) that reports on each."""

    def server_stats(self) -> Sequence[ServerStats]: ...


@runtime_checkable
class HasCaches(Protocol):
    """A scorer with byte-bounded caches (the local model: vision features, document prefixes)."""

    def caches(self) -> Mapping[str, LRUFront[Any]]: ...


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
            (
                "folio_rerank_cache_hits",
                "pairs whose document key/value prefix was already computed, so only the query's tokens "
                "ran (as the local model or the rerank servers report)",
                s.cache_hits,
            ),
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
        if isinstance(engine.scorer, HasCaches):
            yield from _cache_metrics(engine.scorer.caches())
        if isinstance(engine.scorer, PoolStats):
            yield from _pool_metrics(engine.scorer.server_stats())
            ratio = s.cache_hits / s.pairs if s.pairs else 0.0
            yield GaugeMetricFamily(
                "folio_rerank_pool_cache_hit_ratio",
                "share of the pairs scored through the pool whose document prefix a server had cached",
                value=ratio,
            )


def _cache_metrics(caches: Mapping[str, LRUFront[Any]]) -> Iterator[Metric]:
    label = ["cache"]
    used = GaugeMetricFamily("folio_rerank_cache_bytes", "bytes held by each model cache", labels=label)
    bound = GaugeMetricFamily(
        "folio_rerank_cache_capacity_bytes", "the bound of each model cache, in bytes", labels=label
    )
    entries = GaugeMetricFamily("folio_rerank_cache_entries", "pages held by each model cache", labels=label)
    for name, cache in caches.items():
        used.add_metric([name], cache.nbytes)
        bound.add_metric([name], cache.max_bytes)
        entries.add_metric([name], len(cache))
    yield from (used, bound, entries)


def _pool_metrics(servers: Sequence[ServerStats]) -> Iterator[Metric]:
    label = ["server"]
    requests = CounterMetricFamily(
        "folio_rerank_pool_requests", "requests sent to each pool server", labels=label
    )
    errors = CounterMetricFamily("folio_rerank_pool_errors", "of those, the ones that failed", labels=label)
    overloaded = CounterMetricFamily(
        "folio_rerank_pool_overloaded",
        "of the errors, the server answering that it was busy (429, or 503 with Retry-After)",
        labels=label,
    )
    pairs = CounterMetricFamily("folio_rerank_pool_pairs", "pairs sent to each pool server", labels=label)
    hits = CounterMetricFamily(
        "folio_rerank_pool_cache_hits",
        "pairs a pool server scored with the document prefix it had cached",
        labels=label,
    )
    latency = CounterMetricFamily(
        "folio_rerank_pool_latency_seconds", "time spent in requests to each pool server", labels=label
    )
    up = GaugeMetricFamily(
        "folio_rerank_pool_up", "0 while a server is in its cool-off after failing", labels=label
    )
    for s in servers:
        requests.add_metric([s.url], s.requests)
        errors.add_metric([s.url], s.errors)
        overloaded.add_metric([s.url], s.overloaded)
        pairs.add_metric([s.url], s.pairs)
        hits.add_metric([s.url], s.cache_hits)
        latency.add_metric([s.url], s.latency_s)
        up.add_metric([s.url], 1.0 if s.up else 0.0)
    yield from (requests, errors, overloaded, pairs, hits, latency, up)
