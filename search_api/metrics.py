"""Prometheus metrics, one registry per app (so tests can build several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "folio_http_requests",
            "HTTP requests by route template, method and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "folio_http_request_seconds",
            "HTTP request latency by route template",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "folio_search_stage_seconds",
            "Search latency per stage (first_stage, image_loading, rerank, total)",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rerank_batch_size = Histogram(
            "folio_rerank_batch_size",
            "Candidates a search sends to the reranker",
            buckets=(1, 2, 4, 8, 16, 32, 50, 64, 100, 128, 200),
            registry=self.registry,
        )
        self.rerank_fallbacks = Counter(
            "folio_rerank_fallbacks",
            "Searches answered in first-stage order because the reranker failed or was too slow",
            ["reason"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "folio_in_flight",
            "Requests being served, by kind (search, upload)",
            ["kind"],
            registry=self.registry,
        )
        self.shed = Counter(
            "folio_shed_requests",
            "Requests refused with 503 because the server was at capacity",
            ["kind"],
            registry=self.registry,
        )
        self.unexpected_errors = Counter(
            "folio_unexpected_errors", "Requests that hit the catch-all 500 handler", registry=self.registry
        )
        self.jobs_queued = Gauge(
            "folio_index_jobs_queued", "Indexing jobs waiting or running", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
