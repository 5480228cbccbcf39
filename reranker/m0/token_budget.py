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
