"""Dynamic batching: concurrent requests share one scorer call, results go back to the right caller
in order, the queue is bounded, and a failed batch fails only its own requests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reranker.batcher import BatcherClosed, DynamicBatcher, QueueFull
from reranker.types import ImageInput
from tests.unit.reranker.fake_scorer import FakeScorer, fake_score


def _pairs(query: str, n: int) -> list[tuple[str, str]]:
    return [(query, f"{query} doc {i}") for i in range(n)]


def _wait_queued(batcher: DynamicBatcher, n: int) -> None:
    for _ in range(3000):
        if batcher.queue_depth >= n:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"queue never reached {n}")


def test_queued_requests_are_scored_in_one_batch_with_their_own_results() -> None:
    scorer = FakeScorer()
    batcher = DynamicBatcher(scorer, max_queue=16, max_batch_pairs=100, window_ms=0)
    try:
        batcher.pause()
        futures = [batcher.submit(_pairs(f"q{i}", 3)) for i in range(5)]
        batcher.resume()
        results = [f.result(timeout=10) for f in futures]
    finally:
        batcher.close()
    assert scorer.batch_sizes == [15]
    assert batcher.stats.max_batch_requests_seen == 5
    for i, res in enumerate(results):
        assert res == [fake_score(q, c) for q, c in _pairs(f"q{i}", 3)]


def test_pair_budget_splits_batches_without_splitting_requests() -> None:
    scorer = FakeScorer()
    batcher = DynamicBatcher(scorer, max_queue=16, max_batch_pairs=8, window_ms=0)
    try:
        batcher.pause()
        futures = [batcher.submit(_pairs(f"q{i}", n)) for i, n in enumerate([3, 4, 5, 20, 1])]
        batcher.resume()
        for f in futures:
            f.result(timeout=10)
    finally:
        batcher.close()
    # 3+4 fit; 5 starts the next; an oversized request (20) goes alone; then 1
    assert scorer.batch_sizes == [7, 5, 20, 1]


def test_concurrent_threads_get_the_same_scores_as_sequential_calls() -> None:
    scorer = FakeScorer()
    batcher = DynamicBatcher(scorer, max_queue=64, max_batch_pairs=64, window_ms=20)
    try:
        sequential = [batcher.score(_pairs(f"q{i}", 4), timeout=10) for i in range(12)]
        with ThreadPoolExecutor(12) as pool:
            concurrent = list(pool.map(lambda i: batcher.score(_pairs(f"q{i}", 4), timeout=10), range(12)))
    finally:
        batcher.close()
    assert concurrent == sequential
    assert batcher.stats.pairs == 2 * 12 * 4


def test_full_queue_rejects_at_once() -> None:
    scorer = FakeScorer(hold=True)
    batcher = DynamicBatcher(scorer, max_queue=2, max_batch_pairs=4, window_ms=0)
    try:
        running = batcher.submit(_pairs("a", 4))  # taken by the worker, which then blocks
        assert scorer.entered.wait(10)
        waiting = [batcher.submit(_pairs("b", 1)), batcher.submit(_pairs("c", 1))]
        with pytest.raises(QueueFull, match="queue is full"):
            batcher.submit(_pairs("d", 1))
        assert batcher.stats.rejected == 1
        scorer.gate.set()
        assert len(running.result(timeout=10)) == 4
        assert [len(w.result(timeout=10)) for w in waiting] == [1, 1]
    finally:
        batcher.close()


def test_per_candidate_errors_come_back_in_place() -> None:
    batcher = DynamicBatcher(FakeScorer(), window_ms=0)
    try:
        res = batcher.score([("q", "ok"), ("q", ImageInput("bm90IGFuIGltYWdl")), ("q", "fine")], timeout=10)
    finally:
        batcher.close()
    assert isinstance(res[0], float) and isinstance(res[2], float)
    assert str(res[1]) == "cannot decode the image"


def test_a_failed_batch_fails_its_requests_and_the_worker_goes_on() -> None:
    scorer = FakeScorer()
    batcher = DynamicBatcher(scorer, window_ms=0)
    try:
        scorer.fail_next = True
        with pytest.raises(RuntimeError, match="out of memory"):
            batcher.score(_pairs("q", 2), timeout=10)
        assert batcher.score(_pairs("q", 2), timeout=10) == [fake_score(q, c) for q, c in _pairs("q", 2)]
        assert batcher.stats.failed_batches == 1
    finally:
        batcher.close()


def test_timed_out_request_is_dropped_before_scoring() -> None:
    scorer = FakeScorer(hold=True)
    batcher = DynamicBatcher(scorer, max_queue=4, window_ms=0)
    try:
        first = batcher.submit(_pairs("a", 1))
        assert scorer.entered.wait(10)
        with pytest.raises(TimeoutError):
            batcher.score(_pairs("late", 3), timeout=0.05)
        scorer.gate.set()
        first.result(timeout=10)
        assert batcher.score(_pairs("b", 2), timeout=10)
    finally:
        batcher.close()
    assert 3 not in scorer.batch_sizes  # the abandoned request never reached the model


def test_close_fails_waiting_requests_and_refuses_new_ones() -> None:
    scorer = FakeScorer(hold=True)
    batcher = DynamicBatcher(scorer, max_queue=4, window_ms=0)
    batcher.submit(_pairs("a", 1))
    assert scorer.entered.wait(10)
    waiting = batcher.submit(_pairs("b", 1))
    scorer.gate.set()
    batcher.close()
    with pytest.raises(BatcherClosed):
        batcher.submit(_pairs("c", 1))
    assert waiting.done()


def test_batched_local_backend_ranks_and_puts_failed_candidates_last() -> None:
    from reranker.backends.local_batched import BatchedLocalBackend

    backend = BatchedLocalBackend(FakeScorer(), window_ms=0)
    docs = ["alpha", ImageInput("bm90IGFuIGltYWdl"), "beta", "gamma"]
    try:
        out = backend.rerank("q", docs, return_documents=True)
        top = backend.rerank("q", docs, top_n=2)
    finally:
        backend.close()
    assert out.model == "fake-m0"
    assert out.results[-1].index == 1 and out.results[-1].error == "cannot decode the image"
    scored = [r for r in out.results if r.error is None]
    assert [r.relevance_score for r in scored] == sorted((fake_score("q", docs[i]) for i in (0, 2, 3)), reverse=True)
    assert all(r.document is docs[r.index] for r in out.results)
    assert [r.index for r in top.results] == [r.index for r in out.results[:2]] and top.results[0].document is None
