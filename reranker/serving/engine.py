"""`RerankEngine`: the one place in a process where rerank work is admitted, queued, batched and
timed. Routes and services call it and map its typed errors; nothing else holds a queue or a
semaphore for reranking.

- Admission: at most `max_queue` calls wait; one more is refused at once with `Overloaded`, so
  latency cannot grow without bound (a client backs off, a search keeps its first-stage order).
- Batching: a scorer that shares batches (the local model: one device, calls never overlap) is
  fed by one worker that gathers concurrent calls for up to `window_ms`, up to
  `max_batch_requests` of them, and hands them over as one scorer call. The engine counts calls,
  never tokens or pairs: the scorer alone forms its model batches (the local model: by padded
  tokens, `max_batch_tokens`, reranker/m0/pipeline.py), the one place that knows a pair's tokens.
  So TEI's two batch limits (max batch requests, max batch tokens) are each set once. Every call
  of a scorer call is answered when the whole scorer call is done: more requests per batch fill
  the device better, fewer answer the first calls of a backlog sooner. Only calls that ask for
  the same document truncation (`max_doc_tokens`) share a scorer call, since the scorer takes one
  limit per call. Other scorers (HTTP backends) run up to `max_in_flight` calls at once, one each.
- Deadline: every call has one; a call still queued at its deadline is dropped without running,
  and the caller gets `DeadlineExceeded`. A call already on the device cannot be stopped, so it
  finishes and keeps the worker busy until then.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from reranker.errors import BackendFailed, DeadlineExceeded, OutOfMemory, Overloaded, RerankError
from reranker.types import Candidate, Query, RerankScores, Scorer


@dataclass(frozen=True)
class EngineLimits:
    max_queue: int = 64  # calls waiting for the scorer; one more gets Overloaded
    max_in_flight: int = 8  # calls running at once on a scorer that does not share batches
    max_batch_requests: int = 8  # concurrent calls gathered into one scorer call
    window_ms: float = 2.0  # how long the first waiting call waits for others to join its batch
    deadline_s: float = 120.0  # default per-call deadline

    def __post_init__(self) -> None:
        if min(self.max_queue, self.max_in_flight, self.max_batch_requests) < 1 or self.deadline_s <= 0:
            raise ValueError("engine limits must be positive")


@dataclass
class EngineStats:
    requests: int = 0
    rejected: int = 0  # Overloaded
    expired: int = 0  # DeadlineExceeded (in the queue or while waiting)
    batches: int = 0
    pairs: int = 0
    cache_hits: int = 0  # pairs whose document prefix was already computed (as the scorer reports)
    failed_batches: int = 0
    max_batch_pairs_seen: int = 0
    max_batch_requests_seen: int = 0
    recent_batch_sizes: collections.deque[int] = field(default_factory=lambda: collections.deque(maxlen=256))


@dataclass
class _Call:
    pairs: list[tuple[Query, Candidate]]
    deadline: float  # time.monotonic()
    queued_at: float
    max_doc_tokens: int | None = None  # calls share a scorer call only when this is equal
    future: Future[RerankScores] = field(default_factory=Future)


class RerankEngine:
    def __init__(
        self, scorer: Scorer, limits: EngineLimits | None = None, model_name: str | None = None
    ) -> None:
        self.scorer = scorer
        self.model_name = model_name or scorer.model_name  # what results report
        self.limits = limits or EngineLimits()
        self.stats = EngineStats()
        self._queue: collections.deque[_Call] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._running = 0
        n_workers = 1 if scorer.shares_batches else self.limits.max_in_flight
        self._workers = [
            threading.Thread(target=self._work, name=f"rerank-engine-{i}", daemon=True)
            for i in range(n_workers)
        ]
        for worker in self._workers:
            worker.start()

    # --- callers -------------------------------------------------------------------------------

    def submit(
        self,
        query: Query,
        documents: Sequence[Candidate],
        deadline_s: float | None = None,
        *,
        max_doc_tokens: int | None = None,
    ) -> Future[RerankScores]:
        """Queue one call (its pairs share `query`); Overloaded at once when the queue is full.
        `max_doc_tokens` cuts the call's text documents (see `Scorer.score_pairs`)."""
        return self.submit_pairs([(query, d) for d in documents], deadline_s, max_doc_tokens=max_doc_tokens)

    def submit_pairs(
        self,
        pairs: Sequence[tuple[Query, Candidate]],
        deadline_s: float | None = None,
        *,
        max_doc_tokens: int | None = None,
    ) -> Future[RerankScores]:
        """`submit` for pairs of any queries (one call, one place in the queue)."""
        if max_doc_tokens is not None and max_doc_tokens < 1:
            raise ValueError(f"max_doc_tokens must be at least 1, not {max_doc_tokens}")
        now = time.monotonic()
        budget = self.limits.deadline_s if deadline_s is None else deadline_s
        call = _Call(list(pairs), now + max(0.0, budget), now, max_doc_tokens)
        if not call.pairs:
            call.future.set_result(RerankScores(model=self.model_name, scores=[], pair_tokens=[]))
            return call.future
        with self._cond:
            if self._closed:
                raise BackendFailed("the reranker is shutting down")
            if len(self._queue) >= self.limits.max_queue:
                # Calls whose callers stopped waiting hold no place (a stuck worker may not have
                # reached them yet).
                self._queue = collections.deque(c for c in self._queue if not c.future.cancelled())
            if len(self._queue) >= self.limits.max_queue:
                self.stats.rejected += 1
                raise Overloaded(
                    f"the rerank queue is full ({len(self._queue)} calls waiting); retry shortly"
                )
            self._queue.append(call)
            self.stats.requests += 1
            self._cond.notify_all()
        return call.future

    def rerank(
        self,
        query: Query,
        documents: Sequence[Candidate],
        deadline_s: float | None = None,
        *,
        max_doc_tokens: int | None = None,
    ) -> RerankScores:
        """Blocking: the scores of `documents` for `query`, in the order given."""
        budget = self.limits.deadline_s if deadline_s is None else deadline_s
        future = self.submit(query, documents, budget, max_doc_tokens=max_doc_tokens)
        try:
            return future.result(timeout=max(0.0, budget))
        except TimeoutError:
            raise self._expired(future, budget) from None

    async def arerank(
        self,
        query: Query,
        documents: Sequence[Candidate],
        deadline_s: float | None = None,
        *,
        max_doc_tokens: int | None = None,
    ) -> RerankScores:
        """`rerank` for the event loop: waits without holding a thread."""
        pairs = [(query, d) for d in documents]
        return await self.arerank_pairs(pairs, deadline_s, max_doc_tokens=max_doc_tokens)

    async def arerank_pairs(
        self,
        pairs: Sequence[tuple[Query, Candidate]],
        deadline_s: float | None = None,
        *,
        max_doc_tokens: int | None = None,
    ) -> RerankScores:
        """`arerank` for pairs of any queries, in the order given."""
        budget = self.limits.deadline_s if deadline_s is None else deadline_s
        future = self.submit_pairs(pairs, budget, max_doc_tokens=max_doc_tokens)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), max(0.0, budget))
        except TimeoutError:
            raise self._expired(future, budget) from None

    def _expired(self, future: Future[RerankScores], budget: float) -> DeadlineExceeded:
        future.cancel()  # dropped from the queue if it has not started
        with self._cond:
            self.stats.expired += 1
        return DeadlineExceeded(f"the reranker did not answer within the {budget * 1000:.0f} ms budget")

    @property
    def queue_depth(self) -> int:
        with self._cond:
            return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Calls being scored now."""
        with self._cond:
            return self._running

    def ping(self) -> bool:
        return not self._closed and self.scorer.ping()

    def close(self, timeout: float = 5.0, close_scorer: bool = True) -> None:
        """Refuse new calls, fail the queued ones, wait for running ones, then close the scorer
        (unless its owner closes it)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for call in pending:
            if call.future.set_running_or_notify_cancel():
                call.future.set_exception(BackendFailed("the reranker is shutting down"))
        for worker in self._workers:
            worker.join(timeout)
        if close_scorer:
            self.scorer.close()

    # --- workers -------------------------------------------------------------------------------

    def _take(self) -> list[_Call] | None:
        """The next calls to score together (None: closed). Calls past their deadline or given up
        by their caller are dropped here, without running."""
        shares = self.scorer.shares_batches
        with self._cond:
            while True:
                while not self._closed and not self._queue:
                    self._cond.wait()
                if self._closed:
                    return None
                if shares and self.limits.window_ms > 0:
                    until = time.monotonic() + self.limits.window_ms / 1000
                    while not self._closed:
                        left = until - time.monotonic()
                        if len(self._queue) >= self.limits.max_batch_requests or left <= 0:
                            break
                        self._cond.wait(left)
                    if self._closed or not self._queue:
                        continue
                calls: list[_Call] = []
                passed: list[_Call] = []  # asked for another truncation: they keep their place
                now = time.monotonic()
                while self._queue:
                    call = self._queue[0]
                    if calls and call.max_doc_tokens != calls[0].max_doc_tokens:
                        passed.append(self._queue.popleft())
                        continue
                    if calls and (not shares or len(calls) >= self.limits.max_batch_requests):
                        break
                    self._queue.popleft()
                    if not call.future.set_running_or_notify_cancel():
                        continue  # its caller stopped waiting
                    if call.deadline <= now:
                        self.stats.expired += 1
                        call.future.set_exception(
                            DeadlineExceeded("the reranker did not start this call before its deadline")
                        )
                        continue
                    calls.append(call)
                self._queue.extendleft(reversed(passed))
                if calls:
                    self._running += len(calls)
                    return calls

    def _work(self) -> None:
        while (calls := self._take()) is not None:
            try:
                self._score(calls)
            finally:
                with self._cond:
                    self._running -= len(calls)

    def _score(self, calls: list[_Call]) -> None:
        pairs = [p for call in calls for p in call.pairs]
        start = time.monotonic()
        try:
            out = self.scorer.score_pairs(pairs, max_doc_tokens=calls[0].max_doc_tokens)
            if len(out.scores) != len(pairs):
                raise BackendFailed(f"the scorer returned {len(out.scores)} scores for {len(pairs)} pairs")
        except BaseException as exc:  # the scorer failed as a whole: every call of the batch fails
            failure = _as_rerank_error(exc)
            with self._cond:
                self.stats.failed_batches += 1
            for call in calls:
                call.future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        with self._cond:
            s = self.stats
            s.batches += 1
            s.pairs += len(pairs)
            s.cache_hits += out.cache_hits
            s.max_batch_pairs_seen = max(s.max_batch_pairs_seen, len(pairs))
            s.max_batch_requests_seen = max(s.max_batch_requests_seen, len(calls))
            s.recent_batch_sizes.append(len(pairs))
        inference_ms = (time.monotonic() - start) * 1000
        at = 0
        for call in calls:
            part = out.slice(at, at + len(call.pairs))
            part.model = self.model_name
            # As TEI's x-queue-time / x-inference-time: waiting for the scorer, then in it (the
            # whole batch the call was scored in).
            part.timings_ms["queue"] = (start - call.queued_at) * 1000
            part.timings_ms["inference"] = inference_ms
            call.future.set_result(part)
            at += len(call.pairs)


def _as_rerank_error(exc: BaseException) -> RerankError:
    if isinstance(exc, OutOfMemory):
        return exc
    if isinstance(exc, RerankError):  # the backend's own words, said as the reranker's failure
        failure = type(exc)(f"the reranker failed: {exc}")
        failure.__cause__ = exc
        return failure
    if isinstance(exc, MemoryError) or "OutOfMemory" in type(exc).__name__:  # incl. torch's CUDA OOM
        return OutOfMemory("the reranker ran out of memory")
    return BackendFailed(f"the reranker failed: {type(exc).__name__}: {exc}")
