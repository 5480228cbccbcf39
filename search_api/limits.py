"""Bounded concurrency: past the limit a request is refused at once (503) instead of queueing
without bound, so an overloaded server stays responsive and clients can back off and retry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException

from search_api.metrics import Metrics


class AtCapacity(HTTPException):
    def __init__(self, kind: str) -> None:
        super().__init__(
            status_code=503,
            detail=f"the server is at capacity for {kind} requests; retry shortly",
            headers={"Retry-After": "1"},
        )


class ConcurrencyLimit:
    def __init__(self, kind: str, limit: int, metrics: Metrics) -> None:
        self.kind = kind
        self.limit = limit
        self._metrics = metrics
        self._sem = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._sem.acquire(blocking=False):
            self._metrics.shed.labels(self.kind).inc()
            raise AtCapacity(self.kind)
        gauge = self._metrics.in_flight.labels(self.kind)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()
            self._sem.release()
