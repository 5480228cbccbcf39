"""Runs reranker calls off the request thread with a time budget and a bound on calls in flight.

A call that outlives its budget cannot be cancelled (the model or HTTP client is mid-flight), so it
keeps its slot until it really ends; when every slot is taken by such calls, new searches skip the
reranker at once instead of piling up behind it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from reranker.types import Candidate, Query, RerankBackend, RerankError, RerankOutput
from search_api.metrics import Metrics


class RerankSkipped(RuntimeError):
    """The reranker was not used for this request; the message is the reason shown to clients."""


class RerankRunner:
    def __init__(self, backend: RerankBackend | None, max_in_flight: int, metrics: Metrics) -> None:
        self.backend = backend
        self._metrics = metrics
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="rerank")

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    def rerank(
        self, query: Query, documents: Sequence[Candidate], budget_s: float, top_n: int | None = None
    ) -> RerankOutput:
        """The backend's output, or RerankSkipped with a reason (never another exception)."""
        if self.backend is None:
            raise RerankSkipped("no reranker is configured")
        if not self._slots.acquire(blocking=False):
            raise RerankSkipped("the reranker is busy (all slots taken by slow calls)")
        backend = self.backend
        self._metrics.rerank_batch_size.observe(len(documents))
        gauge = self._metrics.in_flight.labels("rerank_call")
        gauge.inc()
        try:
            future: Future[RerankOutput] = self._pool.submit(backend.rerank, query, list(documents), top_n)
        except RuntimeError as exc:  # pool shut down
            gauge.dec()
            self._slots.release()
            raise RerankSkipped(f"the reranker is shutting down: {exc}") from None

        def _release(_f: Future[RerankOutput]) -> None:
            gauge.dec()
            self._slots.release()

        future.add_done_callback(_release)
        try:
            return future.result(timeout=budget_s)
        except FutureTimeout:
            raise RerankSkipped(
                f"the reranker did not answer within the {budget_s * 1000:.0f} ms budget"
            ) from None
        except RerankError as exc:
            raise RerankSkipped(f"the reranker failed: {exc}") from None
        except MemoryError:
            raise RerankSkipped("the reranker ran out of memory") from None
        except Exception as exc:  # e.g. torch.OutOfMemoryError, a broken model: degrade, never 500
            name = type(exc).__name__
            if "OutOfMemory" in name:
                raise RerankSkipped("the reranker ran out of memory") from None
            raise RerankSkipped(f"the reranker failed: {name}: {exc}") from None

    def ping(self) -> bool:
        if self.backend is None:
            return True
        try:
            return bool(self.backend.ping())
        except Exception:
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.backend is not None:
            try:
                self.backend.close()
            except Exception:
                pass
