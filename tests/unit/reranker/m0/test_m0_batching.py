"""Token-budget batching and the vision-feature LRU (pure logic, no model)."""

from __future__ import annotations

import pytest

from reranker.m0.token_budget import take_batch


def plan_batches(lengths: list[int], max_batch_tokens: int) -> list[list[int]]:
    """Every position into batches by repeated `take_batch`, as the pipeline forms them."""
    remaining = list(range(len(lengths)))
    batches: list[list[int]] = []
    while remaining:
        picked = take_batch([lengths[i] for i in remaining], max_batch_tokens)
        batches.append([remaining[p] for p in picked])
        chosen = set(picked)
        remaining = [r for k, r in enumerate(remaining) if k not in chosen]
    return batches


def padded_tokens(batch_lengths: list[int]) -> int:
    return max(batch_lengths) * len(batch_lengths)


def test_every_pair_once_within_budget_and_sorted() -> None:
    lengths = [530, 790, 40, 531, 790, 35, 600, 1200, 80, 529]
    batches = plan_batches(lengths, max_batch_tokens=1600)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or padded_tokens([lengths[i] for i in b]) <= 1600
        assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)
    # Sorting keeps similar lengths together: the two 790s share a batch, the short ones another.
    assert any({1, 4} <= set(b) for b in batches)
    assert any({2, 5} <= set(b) for b in batches)


def test_a_pair_longer_than_the_budget_still_runs_alone() -> None:
    assert take_batch([5000, 10], max_batch_tokens=1000) == [0]


def test_only_tokens_bound_a_batch_not_a_pair_count() -> None:
    assert len(take_batch([10] * 1000, max_batch_tokens=8192)) == 819  # 819 rows × 10 tokens
    assert plan_batches([100] * 9 + [400], max_batch_tokens=800) == [[9, 0], [1, 2, 3, 4, 5, 6, 7, 8]]


def test_vision_cache_is_bounded_by_bytes() -> None:
    torch = pytest.importorskip("torch")
    from reranker.m0.vision import VisionCache

    cache = VisionCache(max_bytes=3 * 400)
    for key in "abcd":
        cache.put(key, torch.zeros(100), (1, 2, 2))  # 400 bytes each
    assert len(cache) == 3 and cache.nbytes == 1200
    assert cache.get("a") is None  # least recently used went first
    assert cache.get("b") is not None
    cache.put("e", torch.zeros(100), (1, 2, 2))
    assert cache.get("b") is not None and cache.get("c") is None
    cache.put("huge", torch.zeros(1000), (1, 2, 2))
    assert cache.get("huge") is None  # bigger than the whole cache: not stored
