"""Pre-process -> model -> post-process, joined by bounded queues: worker threads read, decode and
preprocess images and tokenise text while the model runs the batches already formed; one
long-lived post-processing worker (reranker/m0/post_worker.py) moves logits off the device and
turns them into scores.

This is where the local model's batches are decided, and only here: the pairs of one call (for a
served model, the pairs of the concurrent requests the `RerankEngine` gathered, at most its
`max_batch_requests` of them) are taken longest first into batches whose rows × longest row (text +
visual tokens) stay within `max_batch_tokens` (reranker/m0/token_budget.py), as TEI's queue bounds
its batches by max batch tokens and max batch requests. Nothing counts pairs."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reranker.errors import BackendFailed, CandidateError
from reranker.m0.gate import TurnGate
from reranker.m0.post_worker import CallScores, PostWorker
from reranker.m0.prepare import PreparedPair, Preparer, Side
from reranker.m0.runner import ModelRunner
from reranker.m0.token_budget import take_batch
from reranker.types import RerankScores

# Prepared pairs waiting for the model stage, per call: a bound on memory (each may hold a page's
# pixels) that keeps preparation ahead of the model.
READY_AHEAD = 128


@dataclass
class _Fatal:
    exc: BaseException


class Pipeline:
    def __init__(
        self,
        preparer: Preparer,
        runner: ModelRunner,
        workers: int,
        max_batch_tokens: int,
        take_turns: bool = False,
    ) -> None:
        self.preparer = preparer
        self.gate = TurnGate(take_turns)
        self.runner = runner
        self.max_batch_tokens = max_batch_tokens
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="rerank-prep")
        self.post = PostWorker()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.post.close()

    def _query_side(self, memo: dict[Any, Future[Side | CandidateError]], lock: threading.Lock, query: Any):
        # Pairs of one query share its preparation; the first thread to need it computes it in place
        # (never queued behind the pairs waiting for it).
        key = ("text", query) if isinstance(query, str) else ("obj", id(query))
        with lock:
            future = memo.get(key)
            owner = future is None
            if future is None:
                future = memo[key] = Future()
        if owner:
            try:
                future.set_result(self.preparer.prepare_side(query, "query"))
            except CandidateError as exc:
                future.set_result(exc)
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()

    def run(
        self,
        pairs: Sequence[tuple[Any, Any]],
        model: str = "",
        max_length: int | None = None,
        max_doc_tokens: int | None = None,
    ) -> RerankScores:
        """Scores of the pairs in the order given (`model` names them in the result); `max_length`
        truncates this call's pairs (None: the preparer's configured one); `max_doc_tokens` caps
        this call's text documents further."""
        start = time.perf_counter()
        n = len(pairs)
        if n == 0:
            return RerankScores(model=model, scores=[], pair_tokens=[])
        call = CallScores([CandidateError("not scored")] * n)
        ready: queue.Queue[PreparedPair | _Fatal] = queue.Queue(maxsize=READY_AHEAD)
        memo: dict[Any, Future[Side | CandidateError]] = {}
        memo_lock = threading.Lock()
        cancelled = threading.Event()

        def prepare(i: int) -> None:
            if cancelled.is_set():
                return
            try:
                query, candidate = pairs[i]
                with self.gate.prepare():
                    item: PreparedPair | _Fatal = self.preparer.prepare_pair(
                        i, self._query_side(memo, memo_lock, query), candidate, max_length, max_doc_tokens
                    )
            except BaseException as exc:  # a bug, not bad input: fail the call, loudly
                item = _Fatal(exc)
            while not cancelled.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        for i in range(n):
            self.executor.submit(prepare, i)

        model_ms = 0.0
        pair_tokens = [0] * n
        cached = [False] * n
        try:
            pending: list[PreparedPair] = []
            received = 0
            while received < n or pending:
                pending_tokens = sum(p.length for p in pending)
                if received < n and pending_tokens < self.max_batch_tokens:
                    received += self._receive(ready, pending, call.values, block=True)
                    while received < n and not ready.empty():
                        received += self._receive(ready, pending, call.values, block=False)
                    continue
                picked = take_batch([p.length for p in pending], self.max_batch_tokens)
                batch = [pending[k] for k in picked]
                chosen = set(picked)
                pending = [p for k, p in enumerate(pending) if k not in chosen]
                t0 = time.perf_counter()
                with self.gate.model():
                    outs = self.runner.logits_splitting(batch)
                for out in outs:
                    self.post.put(call, out)
                model_ms += (time.perf_counter() - t0) * 1000
                for p in batch:
                    pair_tokens[p.index] = p.length
                    cached[p.index] = p.prefix_reused
            self.post.finish(call)
        except BaseException:
            cancelled.set()
            raise
        return RerankScores(
            model=model,
            scores=call.values,
            pair_tokens=pair_tokens,
            timings_ms={"total": (time.perf_counter() - start) * 1000, "model": model_ms},
            cached=cached,
        )

    @staticmethod
    def _receive(
        ready: queue.Queue[PreparedPair | _Fatal],
        pending: list[PreparedPair],
        scores: list[float | CandidateError],
        block: bool,
    ) -> int:
        item = ready.get(block=block)
        if isinstance(item, _Fatal):
            raise BackendFailed(f"reranker failed while preparing inputs: {item.exc!r}") from item.exc
        if item.error is not None:
            scores[item.index] = item.error
        else:
            pending.append(item)
        return 1
