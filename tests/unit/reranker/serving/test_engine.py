"""The rerank engine: concurrent calls share one scorer call (batching across requests) and get
their own results, tokens and timings back in order; the queue is bounded (Overloaded); every call
has a deadline (DeadlineExceeded, and a call still queued at its deadline never reaches the model);
a failed batch fails only its own calls (BackendFailed / OutOfMemory); a scorer that does not share
batches runs calls side by side up to max_in_flight."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from reranker.errors import BackendFailed, CandidateError, DeadlineExceeded, OutOfMemory, Overloaded
from reranker.serving.engine import EngineLimits, RerankEngine
from reranker.types import ImageInput
from tests.unit.reranker.serving.fake_scorer import FakeScorer, fake_score


def _docs(query: str, n: int) -> list[str]:
    return [f"{query} doc {i}" for i in range(n)]


def _wait(cond: object, what: str) -> None:
    for _ in range(3000):
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.005)
    raise AssertionError(f"never true: {what}")


def _engine(scorer: FakeScorer, **limits: float) -> RerankEngine:
    return RerankEngine(scorer, EngineLimits(**{"window_ms": 0, **limits}))  # type: ignore[arg-type]


def _held(engine: RerankEngine, scorer: FakeScorer) -> None:
    """Occupy the worker with a one-pair call, so the calls submitted next wait together."""
    engine.submit("blocker", ["x"])
    assert scorer.entered.wait(10)


def test_queued_calls_are_scored_in_one_batch_with_their_own_results() -> None:
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer, max_batch_requests=100)
    try:
        _held(engine, scorer)
        futures = [engine.submit(f"q{i}", _docs(f"q{i}", 3)) for i in range(5)]
        scorer.gate.set()
        results = [f.result(timeout=10) for f in futures]
    finally:
        engine.close()
    assert scorer.batch_sizes == [1, 15]
    assert engine.stats.batches == 2 and engine.stats.max_batch_requests_seen == 5
    for i, res in enumerate(results):
        assert res.scores == [fake_score(f"q{i}", d) for d in _docs(f"q{i}", 3)]
        assert res.pair_tokens == [FakeScorer.TOKENS_PER_PAIR] * 3 and res.total_tokens == 30
        assert res.model == "fake-m0" and res.timings_ms["queue"] >= 0


def test_the_request_limit_splits_batches_without_splitting_calls_whatever_their_size() -> None:
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer, max_batch_requests=2)
    try:
        _held(engine, scorer)
        futures = [engine.submit(f"q{i}", _docs(f"q{i}", n)) for i, n in enumerate([3, 4, 5, 20, 1])]
        scorer.gate.set()
        for f in futures:
            f.result(timeout=10)
    finally:
        engine.close()
    # Two calls per scorer call, counted as calls (the scorer forms its own batches by tokens).
    assert scorer.batch_sizes == [1, 7, 25, 1]
    assert engine.stats.max_batch_requests_seen == 2


def test_each_call_of_a_batch_gets_its_own_cache_hits_and_the_engine_counts_them() -> None:
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer, max_batch_requests=100)
    try:
        _held(engine, scorer)
        seen, new = _docs("seen", 3), _docs("new", 2)
        first = engine.submit("q0", seen)
        second = engine.submit("q1", [*seen[:2], *new])  # same batch: the scorer sees `seen` first
        scorer.gate.set()
        a, b = first.result(timeout=10), second.result(timeout=10)
    finally:
        engine.close()
    assert scorer.batch_sizes == [1, 7]
    assert (a.cached, a.cache_hits) == ([False] * 3, 0)
    assert (b.cached, b.cache_hits) == ([True, True, False, False], 2)
    assert engine.stats.cache_hits == 2 and engine.stats.pairs == 8


def test_concurrent_threads_get_the_same_scores_as_sequential_calls() -> None:
    scorer = FakeScorer()
    engine = _engine(scorer, window_ms=20)
    try:
        sequential = [engine.rerank(f"q{i}", _docs(f"q{i}", 4)).scores for i in range(12)]
        with ThreadPoolExecutor(12) as pool:
            concurrent = list(pool.map(lambda i: engine.rerank(f"q{i}", _docs(f"q{i}", 4)).scores, range(12)))
    finally:
        engine.close()
    assert concurrent == sequential
    assert engine.stats.pairs == 2 * 12 * 4
    assert engine.stats.batches < 24  # the window gathered some of the concurrent calls


def test_a_full_queue_refuses_at_once_with_overloaded() -> None:
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer, max_queue=2)
    try:
        running = engine.submit("a", _docs("a", 4))  # taken by the worker, which then blocks
        assert scorer.entered.wait(10)
        waiting = [engine.submit("b", ["x"]), engine.submit("c", ["y"])]
        started = time.monotonic()
        with pytest.raises(Overloaded, match="queue is full") as refused:
            engine.rerank("d", ["z"])
        assert time.monotonic() - started < 1  # at once, not after waiting
        assert refused.value.reason == "busy" and engine.stats.rejected == 1
        scorer.gate.set()
        assert len(running.result(timeout=10).scores) == 4
        assert [len(w.result(timeout=10).scores) for w in waiting] == [1, 1]
    finally:
        engine.close()


def test_per_candidate_errors_come_back_in_place() -> None:
    engine = _engine(FakeScorer())
    try:
        res = engine.rerank("q", ["ok", ImageInput("bm90IGFuIGltYWdl"), "fine"])
    finally:
        engine.close()
    assert isinstance(res.scores[0], float) and isinstance(res.scores[2], float)
    assert isinstance(res.scores[1], CandidateError) and str(res.scores[1]) == "cannot decode the image"
    assert res.errors == [(1, res.scores[1])] and res.pair_tokens == [10, 0, 10]
    ranked = res.output(documents=None).results
    assert ranked[-1].index == 1 and ranked[-1].error == "cannot decode the image"


@pytest.mark.parametrize(
    ("failure", "kind", "reason"),
    [
        (RuntimeError("CUDA kernel failed"), BackendFailed, "error"),
        (MemoryError(), OutOfMemory, "memory"),
        (type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory"), OutOfMemory, "memory"),
    ],
)
def test_a_failed_batch_fails_its_calls_with_a_typed_error_and_the_worker_goes_on(
    failure: BaseException, kind: type, reason: str
) -> None:
    scorer = FakeScorer()
    engine = _engine(scorer)
    try:
        scorer.fail_next = failure
        with pytest.raises(kind) as failed:
            engine.rerank("q", ["a", "b"])
        assert failed.value.reason == reason
        assert engine.rerank("q", ["a", "b"]).scores == [fake_score("q", "a"), fake_score("q", "b")]
        assert engine.stats.failed_batches == 1
    finally:
        engine.close()


def test_deadline_exceeded_and_a_late_call_never_reaches_the_model() -> None:
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer)
    try:
        first = engine.submit("a", ["x"])
        assert scorer.entered.wait(10)
        with pytest.raises(DeadlineExceeded, match="50 ms") as late:
            engine.rerank("late", _docs("late", 3), deadline_s=0.05)
        assert late.value.reason == "budget"
        scorer.gate.set()
        first.result(timeout=10)
        assert engine.rerank("b", _docs("b", 2)).scores
    finally:
        engine.close()
    assert 3 not in scorer.batch_sizes  # the abandoned call never reached the model
    assert engine.stats.expired == 1


def test_a_call_whose_deadline_passed_in_the_queue_is_dropped_by_the_worker() -> None:
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer)
    try:
        _held(engine, scorer)
        doomed = engine.submit("late", _docs("late", 3), deadline_s=0.0)
        scorer.gate.set()
        with pytest.raises(DeadlineExceeded):
            doomed.result(timeout=10)
    finally:
        engine.close()
    assert scorer.batch_sizes == [1] and engine.stats.expired == 1


def test_the_event_loop_waits_without_a_thread_and_gets_the_deadline_too() -> None:
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer)

    async def both() -> tuple[object, object]:
        slow = asyncio.ensure_future(engine.arerank("q", ["a"], deadline_s=0.05))
        done, _ = await asyncio.wait([slow], timeout=5)
        scorer.gate.set()
        fast = await engine.arerank("q", ["a"])
        return slow.exception(), fast

    try:  # a loop of its own on a thread of its own, whatever loop the test runner holds
        with ThreadPoolExecutor(1) as pool:
            late, fast = pool.submit(asyncio.run, both()).result(timeout=30)
    finally:
        engine.close()
    assert isinstance(late, DeadlineExceeded)
    assert fast.scores == [fake_score("q", "a")]  # type: ignore[attr-defined]


def test_a_scorer_that_does_not_share_batches_runs_calls_side_by_side_up_to_the_limit() -> None:
    scorer = FakeScorer(hold=True, shares_batches=False)
    engine = _engine(scorer, max_in_flight=3, max_queue=8)
    try:
        futures = [engine.submit(f"q{i}", _docs(f"q{i}", 2)) for i in range(5)]
        _wait(lambda: engine.in_flight == 3, "three calls running")
        assert engine.queue_depth == 2
        scorer.gate.set()
        results = [f.result(timeout=10) for f in futures]
    finally:
        engine.close()
    assert scorer.batch_sizes == [2] * 5  # one call each, never merged
    assert [r.scores for r in results] == [[fake_score(f"q{i}", d) for d in _docs(f"q{i}", 2)] for i in range(5)]


def test_close_fails_waiting_calls_refuses_new_ones_and_closes_the_scorer() -> None:
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer)
    engine.submit("a", ["x"])
    assert scorer.entered.wait(10)
    waiting = engine.submit("b", ["y"])
    threading.Timer(0.05, scorer.gate.set).start()
    engine.close()
    with pytest.raises(BackendFailed, match="shutting down"):
        engine.submit("c", ["z"])
    assert waiting.done() and scorer.closed and not engine.ping()


def test_ranked_output_puts_failed_candidates_last_and_cuts_to_top_n() -> None:
    engine = _engine(FakeScorer())
    docs = ["alpha", ImageInput("bm90IGFuIGltYWdl"), "beta", "gamma"]
    try:
        scored = engine.rerank("q", docs)
    finally:
        engine.close()
    out = scored.output(documents=docs)
    assert out.model == "fake-m0" and out.total_tokens == 30
    assert out.results[-1].index == 1 and out.results[-1].error == "cannot decode the image"
    ranked = [r for r in out.results if r.error is None]
    assert [r.relevance_score for r in ranked] == sorted((fake_score("q", docs[i]) for i in (0, 2, 3)), reverse=True)
    assert all(r.document is docs[r.index] for r in out.results)
    top = scored.output(top_n=2)
    assert [r.index for r in top.results] == [r.index for r in out.results[:2]] and top.results[0].document is None


def test_calls_given_up_by_their_callers_free_their_place_in_the_queue() -> None:
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer, max_queue=2)
    try:
        _held(engine, scorer)
        for query in ("a", "b"):  # both wait behind the held call, then their callers give up
            with pytest.raises(DeadlineExceeded):
                engine.rerank(query, ["x"], deadline_s=0.01)
        assert engine.queue_depth == 2
        waiting = engine.submit("c", ["y"])  # not Overloaded: the two abandoned calls make room
        assert engine.queue_depth == 1
        scorer.gate.set()
        assert waiting.result(timeout=10).scores == [fake_score("c", "y")]
    finally:
        engine.close()
    assert engine.stats.rejected == 0 and scorer.batch_sizes == [1, 1]


def test_only_calls_with_the_same_document_truncation_share_a_scorer_call() -> None:
    """The scorer takes one `max_doc_tokens` per call: queued calls are grouped by it, the first
    waiting call's group goes first, and the others keep their order for the next batch."""
    scorer = FakeScorer(hold=True)
    engine = _engine(scorer, max_batch_requests=100)
    long_doc = "one two three four five six"
    caps = [None, 2, None, 2, 4]
    try:
        _held(engine, scorer)
        futures = [engine.submit(f"q{i}", [long_doc, "short"], max_doc_tokens=cap) for i, cap in enumerate(caps)]
        scorer.gate.set()
        results = [f.result(timeout=10) for f in futures]
    finally:
        engine.close()
    assert scorer.batch_limits == [None, None, 2, 4] and scorer.batch_sizes == [1, 4, 4, 2]
    for i, (cap, res) in enumerate(zip(caps, results, strict=True)):
        assert res.scores == [fake_score(f"q{i}", long_doc, cap), fake_score(f"q{i}", "short", cap)]
    assert results[1].scores[0] != fake_score("q1", long_doc)  # the cut document scored as cut


def test_pairs_of_several_queries_are_one_call_and_bad_limits_are_refused() -> None:
    scorer = FakeScorer()
    engine = _engine(scorer)
    pairs = [("q1", "a b c"), ("q2", "d e f"), ("q1", "g")]
    try:
        scored = engine.submit_pairs(pairs, max_doc_tokens=1).result(timeout=10)
        with pytest.raises(ValueError, match="at least 1"):
            engine.submit_pairs(pairs, max_doc_tokens=0)
    finally:
        engine.close()
    assert scored.scores == [fake_score(q, d, 1) for q, d in pairs]
    assert scorer.batch_sizes == [3] and scorer.batch_limits == [1]
