"""Token-budget batching: pairs sorted by length so a batch pads little, and sized so that
rows × longest row (text tokens + visual tokens) stays within a budget."""

from __future__ import annotations

from collections.abc import Sequence


def take_batch(lengths: Sequence[int], token_budget: int, max_pairs: int) -> list[int]:
    """Positions (into `lengths`) of the next batch: the longest pairs first, as many as fit."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        # Sorted longest first, so the first row sets the padded width.
        width = lengths[batch[0]] if batch else lengths[i]
        if batch and ((len(batch) + 1) * width > token_budget or len(batch) >= max_pairs):
            break
        batch.append(i)
    return batch


def plan_batches(lengths: Sequence[int], token_budget: int, max_pairs: int) -> list[list[int]]:
    """Split all positions into batches (each sorted longest first); every pair lands in exactly one."""
    remaining = list(range(len(lengths)))
    batches: list[list[int]] = []
    while remaining:
        picked = take_batch([lengths[i] for i in remaining], token_budget, max_pairs)
        batches.append([remaining[p] for p in picked])
        chosen = set(picked)
        remaining = [r for k, r in enumerate(remaining) if k not in chosen]
    return batches


def padded_tokens(batch_lengths: Sequence[int]) -> int:
    return max(batch_lengths) * len(batch_lengths) if batch_lengths else 0
