"""Batching, padding, order and caching never change a score: a mixed call (text and image
candidates, text and image queries, two different queries) equals every pair scored alone."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from reranker.types import ImageInput, TextInput
from tests.unit.reranker.m0.conftest import png_bytes
from tests.unit.reranker.m0.token_count import count_tokens

TOL = 1e-5


def _mixed_pairs() -> list[tuple[object, object]]:
    image_query = ImageInput(png_bytes(70, 98, seed=10))
    docs: list[object] = [
        "a short one",
        "A much longer text candidate, " * 30,
        TextInput("markdown tables and lists"),
        ImageInput(png_bytes(120, 160, seed=11)),
        ImageInput(png_bytes(300, 90, seed=12)),
        "medium length document about small language models and html",
        ImageInput(png_bytes(56, 56, seed=13)),
    ]
    pairs: list[tuple[object, object]] = [("slm markdown", d) for d in docs]
    pairs += [(image_query, d) for d in docs[:5]]
    pairs += [("a different query, longer than the first one", d) for d in docs[2:6]]
    return pairs


@pytest.fixture(scope="module")
def alone(m0) -> list[float]:
    scores = []
    for pair in _mixed_pairs():  # each pair alone, nothing cached from the others
        m0.vision_cache.clear()
        m0.prefix_cache.clear()
        scores.append(m0.score_pairs([pair]).scores[0])
    return scores


def _close(a: list[object], b: list[object]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert isinstance(x, float) and isinstance(y, float)
        assert abs(x - y) <= TOL, (x, y)


def test_one_mixed_call_equals_pairs_alone(m0, alone) -> None:
    m0.vision_cache.clear()
    m0.prefix_cache.clear()
    _close(m0.score_pairs(_mixed_pairs()).scores, alone)


def test_order_does_not_matter(m0, alone) -> None:
    pairs = _mixed_pairs()
    order = list(range(len(pairs)))
    random.Random(3).shuffle(order)
    shuffled = m0.score_pairs([pairs[i] for i in order]).scores
    _close([shuffled[order.index(i)] for i in range(len(pairs))], alone)


def test_batch_shape_does_not_matter(tiny_m0_dir: Path, alone) -> None:
    from reranker.m0.reranker import M0Reranker

    # A tiny budget forces many small batches with different padding; no vision cache at all.
    small = M0Reranker.from_pretrained(
        str(tiny_m0_dir), device="cpu", max_length=2048, max_batch_tokens=300, vision_cache_mb=0,
        prefix_cache_mb=0, workers=1,
    )
    try:
        _close(small.score_pairs(_mixed_pairs()).scores, alone)
    finally:
        small.close()


def test_vision_cache_reuses_pages_without_changing_scores(m0, alone) -> None:
    m0.vision_cache.clear()
    m0.prefix_cache.clear()
    first = m0.score_pairs(_mixed_pairs()).scores
    hits = m0.vision_cache.hits
    second = m0.score_pairs(_mixed_pairs()).scores
    assert m0.vision_cache.hits > hits  # second call served pages from the cache
    assert len(m0.vision_cache) == 4  # three candidate pages and the image query
    _close(first, alone)
    _close(second, alone)


def test_rerank_orders_and_reports_usage(m0) -> None:
    docs = ["markdown", "", ImageInput(png_bytes(84, 84, seed=20)), "language model"]
    out = m0.rerank("slm markdown", docs, top_n=3, return_documents=True)
    assert out.model and len(out.results) == 3
    ok = [r for r in out.results if r.error is None]
    assert [r.relevance_score for r in ok] == sorted((r.relevance_score for r in ok), reverse=True)
    assert {r.index for r in out.results} <= {0, 2, 3}  # the failed empty text sorts last, cut by top_n
    assert all(r.document is docs[r.index] for r in out.results)
    assert out.total_tokens == count_tokens(m0, [("slm markdown", d) for d in docs]) > 0
