"""Token-budget batching, the one batch decision of the local model: pairs sorted by length so a
batch pads little, and sized so that rows × longest row (text tokens + visual tokens) stays within
`max_batch_tokens`. There is no pair limit: the padded tokens are what fill the device."""

from __future__ import annotations

from collections.abc import Sequence


def take_batch(lengths: Sequence[int], max_batch_tokens: int) -> list[int]:
    """Positions (into `lengths`) of the next batch: the longest pairs first, as many as fit. The
    longest pair always goes, alone if it is over the budget by itself."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        # Sorted longest first, so the first row sets the padded width.
        width = lengths[batch[0]] if batch else lengths[i]
        if batch and (len(batch) + 1) * width > max_batch_tokens:
            break
        batch.append(i)
    return batch
