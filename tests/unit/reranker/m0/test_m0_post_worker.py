"""The pipeline's one post-processing worker: started once with the model and stopped by close(),
never a thread per call; calls that overlap get their own scores, and a failure while reading one
call's logits fails that call only."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from reranker.errors import BackendFailed, CandidateError
from reranker.m0.model import logits_to_scores
from reranker.m0.post_worker import CallScores, PostWorker


def _post_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rerank-post"]


def _new_call(n: int) -> CallScores:
    return CallScores([CandidateError("not scored")] * n)


def test_a_failure_in_one_call_fails_that_call_only_and_the_worker_goes_on() -> None:
    worker = PostWorker()
    try:
        good, bad, later = _new_call(3), _new_call(2), _new_call(1)
        logits = torch.tensor([0.5, -1.0, 2.0])
        worker.put(good, ([2, 0], logits[:2]))
        worker.put(bad, ([0, 1], logits))  # three logits for two pairs: reading them fails
        worker.put(good, ([1], logits[2:]))
        with pytest.raises(BackendFailed, match="reading scores"):
            worker.finish(bad)
        worker.finish(good)
        worker.put(later, ([0], logits[:1]))
        worker.finish(later)
    finally:
        worker.close()
    expected = logits_to_scores(logits)
    assert good.values == [expected[1], expected[2], expected[0]]
    assert later.values == [expected[0]] and good.error is None and later.error is None
    assert bad.error is not None


def test_one_worker_serves_every_call_and_close_stops_it(tiny_m0_dir: Path) -> None:
    from reranker.m0.reranker import M0Reranker

    before = len(_post_threads())
    model = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", dtype="fp32", max_length=2048)
    try:
        assert len(_post_threads()) == before + 1  # started with the model

        def score(i: int) -> list[float | CandidateError]:
            return model.score_pairs([(f"query {i}", f"document {i}"), ("shared", f"page {i}")]).scores

        alone = [s for i in range(4) for s in score(i)]
        with ThreadPoolExecutor(4) as pool:  # overlapping calls share the worker
            together = [s for scores in pool.map(score, range(4)) for s in scores]
        assert len(_post_threads()) == before + 1  # no thread per call
        assert together == pytest.approx(alone, abs=1e-5)
    finally:
        model.close()
    assert len(_post_threads()) == before
    with pytest.raises(BackendFailed, match="closed"):
        model.score_pairs([("q", "d")])
