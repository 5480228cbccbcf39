"""Dynamic batching for a pair scorer: concurrent requests' (query, candidate) pairs are gathered
for a short window, up to a pair budget, and scored together by one call to `score_pairs` on a
single worker thread (the model is not thread-safe and batches use the device best).

The queue of waiting requests is bounded: when it is full, `submit` fails at once with
`QueueFull` (the server answers 503) instead of letting latency grow without limit.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from reranker.types import Candidate, Query


class PairScorer(Protocol):
    def score_pairs(self, pairs: Sequence[tuple[Query, Candidate]]) -> list[Any]:
        """One score (float) or one per-candidate error object per pair."""


class CountingScorer(Protocol):
    def score_pairs_counted(self, pairs: Sequence[tuple[Query, Candidate]]) -> tuple[list[Any], list[int]]:
        """Results as `score_pairs`, plus the tokens each pair cost."""


class Scored(list[Any]):
    """One request's results in order; `tokens` is what they cost when the scorer reports usage."""

    tokens: int | None = None


class QueueFull(RuntimeError):
    """Too many requests are waiting; try again later."""


class BatcherClosed(RuntimeError):
    """The batcher was shut down."""


@dataclass
class _Job:
    pairs: list[tuple[Query, Candidate]]
    future: Future[Scored] = field(default_factory=Future)


@dataclass
class BatcherStats:
    batches: int = 0
    pairs: int = 0
    requests: int = 0
    rejected: int = 0
    failed_batches: int = 0
    max_batch_pairs_seen: int = 0
    max_batch_requests_seen: int = 0
    recent_batch_sizes: collections.deque[int] = field(default_factory=lambda: collections.deque(maxlen=256))


class DynamicBatcher:
    """Submit pairs from any thread; get a Future of their results in the same order."""

    def __init__(
        self,
        scorer: PairScorer,
        *,
        max_queue: int = 64,
        max_batch_pairs: int = 64,
        window_ms: float = 5.0,
    ) -> None:
        if max_queue < 1 or max_batch_pairs < 1:
            raise ValueError("max_queue and max_batch_pairs must be at least 1")
        self.scorer = scorer
        self.max_queue = max_queue
        self.max_batch_pairs = max_batch_pairs
        self.window_s = max(0.0, window_ms) / 1000.0
        self.stats = BatcherStats()
        self._queue: collections.deque[_Job] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._paused = False
        self._busy = False
        self._worker = threading.Thread(target=self._run, name="rerank-batcher", daemon=True)
        self._worker.start()

    # --- client side ---------------------------------------------------------------------------

    def submit(self, pairs: Sequence[tuple[Query, Candidate]]) -> Future[Scored]:
        job = _Job(list(pairs))
        if not job.pairs:
            empty = Scored()
            empty.tokens = 0
            job.future.set_result(empty)
            return job.future
        with self._cond:
            if self._closed:
                raise BatcherClosed("the reranker is shutting down")
            if len(self._queue) >= self.max_queue:
                self.stats.rejected += 1
                raise QueueFull(f"the reranker queue is full ({self.max_queue} requests waiting)")
            self._queue.append(job)
            self.stats.requests += 1
            self._cond.notify_all()
        return job.future

    def score(self, pairs: Sequence[tuple[Query, Candidate]], timeout: float | None = None) -> Scored:
        """Blocking convenience: submit and wait (raises TimeoutError after `timeout` seconds)."""
        future = self.submit(pairs)
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()  # dropped from its batch if not yet started
            raise

    @property
    def queue_depth(self) -> int:
        with self._cond:
            return len(self._queue)

    @property
    def busy(self) -> bool:
        return self._busy

    def pause(self) -> None:
        """Stop taking new batches (the running one finishes); requests queue up. For drains and tests."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._paused = False
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for job in pending:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(BatcherClosed("the reranker is shutting down"))
        self._worker.join(timeout)

    # --- worker side ---------------------------------------------------------------------------

    def _take_batch(self) -> list[_Job] | None:
        """Wait for work, then gather jobs for up to `window_s` or until the pair budget is met."""
        with self._cond:
            while not self._closed and (self._paused or not self._queue):
                self._cond.wait()
            if self._closed:
                return None
            deadline = time.monotonic() + self.window_s
            while not self._closed:
                queued = sum(len(j.pairs) for j in self._queue)
                remaining = deadline - time.monotonic()
                if queued >= self.max_batch_pairs or remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch: list[_Job] = []
            n_pairs = 0
            while self._queue:
                job = self._queue[0]
                # Always take the first job (even an oversized one); stop before busting the budget.
                if batch and n_pairs + len(job.pairs) > self.max_batch_pairs:
                    break
                self._queue.popleft()
                if not job.future.set_running_or_notify_cancel():
                    continue  # its caller gave up waiting
                batch.append(job)
                n_pairs += len(job.pairs)
            self._busy = bool(batch)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            if batch:
                self._score(batch)
            self._busy = False

    def _score(self, batch: list[_Job]) -> None:
        pairs = [p for job in batch for p in job.pairs]
        tokens: list[int] | None = None
        try:
            counted = getattr(self.scorer, "score_pairs_counted", None)
            if callable(counted):  # usage from the scoring itself (see CountingScorer)
                results, tokens = counted(pairs)
            else:
                results = self.scorer.score_pairs(pairs)
            if len(results) != len(pairs) or (tokens is not None and len(tokens) != len(pairs)):
                raise RuntimeError(f"scorer returned {len(results)} results for {len(pairs)} pairs")
        except Exception as exc:  # the whole batch failed (e.g. out of memory): fail its requests
            self.stats.failed_batches += 1
            for job in batch:
                job.future.set_exception(exc)
            return
        self.stats.batches += 1
        self.stats.pairs += len(pairs)
        self.stats.max_batch_pairs_seen = max(self.stats.max_batch_pairs_seen, len(pairs))
        self.stats.max_batch_requests_seen = max(self.stats.max_batch_requests_seen, len(batch))
        self.stats.recent_batch_sizes.append(len(pairs))
        start = 0
        for job in batch:
            end = start + len(job.pairs)
            scored = Scored(results[start:end])
            scored.tokens = None if tokens is None else sum(tokens[start:end])
            job.future.set_result(scored)
            start = end
