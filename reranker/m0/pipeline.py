"""Pre-process -> model -> post-process, joined by bounded queues: worker threads read, decode and
preprocess images and tokenise text while the model runs the batches already formed; a post
thread moves logits off the device and turns them into scores."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from reranker.errors import BackendFailed, CandidateError
from reranker.m0.gate import TurnGate
from reranker.m0.model import logits_to_scores
from reranker.m0.prepare import PreparedPair, Preparer, Side
from reranker.m0.runner import ModelRunner
from reranker.m0.token_budget import take_batch
from reranker.types import RerankScores


@dataclass
class _Fatal:
    exc: BaseException


class Pipeline:
    def __init__(
        self,
        preparer: Preparer,
        runner: ModelRunner,
        workers: int,
        token_budget: int,
        max_batch_pairs: int,
        take_turns: bool = False,
    ) -> None:
        self.preparer = preparer
        self.gate = TurnGate(take_turns)
        self.runner = runner
        self.token_budget = token_budget
        self.max_batch_pairs = max_batch_pairs
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="rerank-prep")

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

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
        scores: list[float | CandidateError] = [CandidateError("not scored")] * n
        if n == 0:
            return RerankScores(model=model, scores=[], pair_tokens=[])
        ready: queue.Queue[PreparedPair | _Fatal] = queue.Queue(maxsize=max(8, 2 * self.max_batch_pairs))
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

        done: queue.Queue[tuple[list[int], torch.Tensor] | None] = queue.Queue(maxsize=4)
        post_errors: list[BaseException] = []
        post = threading.Thread(
            target=self._post, args=(done, scores, post_errors), name="rerank-post", daemon=True
        )
        post.start()
        model_ms = 0.0
        pair_tokens = [0] * n
        cached = [False] * n
        try:
            pending: list[PreparedPair] = []
            received = 0
            while received < n or pending:
                pending_tokens = sum(p.length for p in pending)
                if received < n and pending_tokens < self.token_budget:
                    received += self._receive(ready, pending, scores, block=True)
                    while received < n and not ready.empty():
                        received += self._receive(ready, pending, scores, block=False)
                    continue
                picked = take_batch([p.length for p in pending], self.token_budget, self.max_batch_pairs)
                batch = [pending[k] for k in picked]
                chosen = set(picked)
                pending = [p for k, p in enumerate(pending) if k not in chosen]
                t0 = time.perf_counter()
                with self.gate.model():
                    outs = self.runner.logits_splitting(batch)
                for out in outs:
                    done.put(out)
                model_ms += (time.perf_counter() - t0) * 1000
                for p in batch:
                    pair_tokens[p.index] = p.length
                    cached[p.index] = p.prefix_reused
        except BaseException:
            cancelled.set()
            raise
        finally:
            done.put(None)
            post.join()
        if post_errors:
            raise BackendFailed(f"reranker failed while reading scores: {post_errors[0]!r}") from post_errors[0]
        return RerankScores(
            model=model,
            scores=scores,
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

    @staticmethod
    def _post(
        done: queue.Queue[tuple[list[int], torch.Tensor] | None],
        scores: list[float | CandidateError],
        errors: list[BaseException],
    ) -> None:
        # Keeps draining after a failure so the model stage never blocks on a full queue.
        while (item := done.get()) is not None:
            if errors:
                continue
            try:
                indices, logits = item
                for i, s in zip(indices, logits_to_scores(logits), strict=True):
                    scores[i] = s
            except BaseException as exc:
                errors.append(exc)
