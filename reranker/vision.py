"""Image preprocessing (Qwen2-VL's own image processor, pixel bounds of m0) and an LRU of vision
features keyed by image content, bounded by bytes: a page reached by many queries runs the vision
tower once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reranker.errors import CandidateError
from reranker.lru import ByteLRU, LRUFront

MIN_PIXELS = 3136  # 4 * 28 * 28
MAX_PIXELS = 602112  # 768 * 28 * 28: at most 768 visual tokens per image


@dataclass
class PreparedImage:
    key: str
    grid_thw: tuple[int, int, int]  # patches before merging
    pixel_values: np.ndarray | None  # (patches, 3*2*14*14) float32; None when the features are cached
    features: torch.Tensor | None = None  # (tokens, hidden) from the cache, held so eviction cannot race
    source: Any = None  # the input, kept when neither pixels nor features are held (prefix cached)


class ImagePreprocessor:
    def __init__(self, folder: Path, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS) -> None:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        cfg: dict[str, Any] = {}
        path = folder / "preprocessor_config.json"
        if path.exists():
            cfg = json.loads(path.read_text())
        keep = ("patch_size", "temporal_patch_size", "merge_size", "image_mean", "image_std", "resample")
        kwargs = {k: cfg[k] for k in keep if k in cfg}
        # The pixel bounds are m0's (the checkpoint's processor config carries Qwen2-VL's wider ones).
        self.processor = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels, **kwargs)
        self.merge_size = int(kwargs.get("merge_size", 2))

    def __call__(self, image: Any) -> tuple[np.ndarray, tuple[int, int, int]]:
        try:
            out = self.processor(images=[image], return_tensors="np")
        except Exception as exc:  # a decodable image the processor still cannot handle (odd mode, 1x1)
            raise CandidateError(f"image could not be preprocessed: {exc}") from None
        t, h, w = (int(x) for x in out["image_grid_thw"][0])
        return np.ascontiguousarray(out["pixel_values"], dtype=np.float32), (t, h, w)

    def tokens(self, grid_thw: tuple[int, int, int]) -> int:
        t, h, w = grid_thw
        return t * h * w // self.merge_size**2


def _tensor_bytes(item: tuple[torch.Tensor, tuple[int, int, int]]) -> int:
    return item[0].numel() * item[0].element_size()


class VisionCache(LRUFront[tuple[torch.Tensor, tuple[int, int, int]]]):
    """LRU of (features (tokens, hidden), grid) by image key, bounded by tensor bytes."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(ByteLRU(max_bytes, _tensor_bytes))

    def grid(self, key: str) -> tuple[int, int, int] | None:
        item = self._lru.peek(key)
        return None if item is None else item[1]

    def get(self, key: str) -> torch.Tensor | None:
        item = self._lru.get(key)
        return None if item is None else item[0]

    def put(self, key: str, features: torch.Tensor, grid: tuple[int, int, int]) -> None:
        self._lru.put(key, (features, grid))
