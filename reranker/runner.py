"""The model stage: one batch of prepared pairs -> logits. Vision features come from the cache or
one vision-tower call for the batch's new images; rows are left-padded and scored together."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

from reranker.model import M0RankingModel
from reranker.prepare import PreparedPair
from reranker.prompts import left_pad
from reranker.vision import PreparedImage, VisionCache


class ModelRunner:
    def __init__(self, model: M0RankingModel, cache: VisionCache, pad_id: int) -> None:
        self.model = model
        self.cache = cache
        self.pad_id = pad_id
        self.device = next(model.parameters()).device
        self.lock = threading.Lock()  # one batch on the device at a time, whichever call it serves

    def _features(self, images: Sequence[PreparedImage]) -> dict[str, torch.Tensor]:
        found: dict[str, torch.Tensor] = {}
        new: dict[str, PreparedImage] = {}
        for im in images:
            if im.key in found or im.key in new:
                continue
            cached = im.features if im.features is not None else self.cache.get(im.key)
            if cached is not None:
                found[im.key] = cached
            elif im.pixel_values is not None:
                new[im.key] = im
            else:  # evicted between preparation and now, and prepared without pixels: cannot happen
                raise RuntimeError(f"image {im.key} has neither pixels nor cached features")
        if new:
            pixels = torch.from_numpy(np.concatenate([im.pixel_values for im in new.values()]))  # type: ignore[misc]
            grids = torch.tensor([im.grid_thw for im in new.values()])  # (images, 3)
            for im, feats in zip(new.values(), self.model.encode_images(pixels, grids), strict=True):
                self.cache.put(im.key, feats, im.grid_thw)
                found[im.key] = feats
        return found

    def logits(self, batch: Sequence[PreparedPair]) -> torch.Tensor:
        """(batch,) logits, on the device (the caller moves them off, so the device is not stalled)."""
        encoded = [p.encoded for p in batch if p.encoded is not None]
        if len(encoded) != len(batch):
            raise ValueError("only successfully prepared pairs can be batched")
        images = [im for p in batch for im in p.images]  # row-major = placeholder order in the batch
        with self.lock:
            image_embeds = grid = None
            if images:
                feats = self._features(images)
                image_embeds = torch.cat([feats[im.key] for im in images])  # (image tokens, hidden)
                grid = torch.tensor([im.grid_thw for im in images], device=self.device)
            ids, mask = left_pad(encoded, self.pad_id)
            ids_t = torch.tensor(ids, device=self.device)  # (batch, seq)
            mask_t = torch.tensor(mask, device=self.device)  # (batch, seq)
            return self.model(ids_t, mask_t, image_embeds, grid)

    def logits_splitting(self, batch: Sequence[PreparedPair]) -> list[tuple[list[int], torch.Tensor]]:
        """Like `logits`, but halves the batch on a device out-of-memory error."""
        try:
            return [([p.index for p in batch], self.logits(batch))]
        except torch.cuda.OutOfMemoryError:
            if len(batch) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(batch) // 2
            return self.logits_splitting(batch[:half]) + self.logits_splitting(batch[half:])
