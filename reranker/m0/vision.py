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
from PIL import Image

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
    def __init__(
        self, folder: Path, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS, fast: bool = True
    ) -> None:
        # The PIL processor, named and imported from its own module on purpose: it is the one m0's
        # code ran (transformers 4.4x's `Qwen2VLImageProcessor`, a PIL/numpy processor before that
        # name passed to the torchvision one) and the one the fidelity tests' reference uses
        # (tests/unit/reranker/m0/reference.py). The bare name would, without torchvision, make
        # transformers warn that it falls back to this very class.
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
        self.use_fast = fast
        self._resample = int(self.processor.resample)
        self._lut = _normalise_table(self.processor)

    def __call__(self, image: Any) -> tuple[np.ndarray, tuple[int, int, int]]:
        try:
            return self.fast(image) if self.use_fast else self.stock(image)
        except CandidateError:
            raise
        except Exception as exc:  # a decodable image the processor still cannot handle (odd mode, 1x1)
            raise CandidateError(f"image could not be preprocessed: {exc}") from None

    def stock(self, image: Any) -> tuple[np.ndarray, tuple[int, int, int]]:
        """Qwen2-VL's own image processor, step by step in float arrays (the reference)."""
        out = self.processor(images=[image], return_tensors="np")
        t, h, w = (int(x) for x in out["image_grid_thw"][0])
        return np.ascontiguousarray(out["pixel_values"], dtype=np.float32), (t, h, w)

    def fast(self, image: Any) -> tuple[np.ndarray, tuple[int, int, int]]:
        """Bit-identical to `stock` for 8-bit images, several times faster: the same RGB conversion
        and PIL resize, then the patches are laid out in uint8 and rescale + normalise become one
        per-channel lookup table built with the processor's own arithmetic (uint8 has 256 values)."""
        if not isinstance(image, Image.Image):
            return self.stock(image)
        from transformers.image_transforms import convert_to_rgb
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        rgb = np.asarray(convert_to_rgb(image, return_numpy=True))  # (height, width, 3) uint8, alpha on white
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            return self.stock(image)
        proc = self.processor
        patch, merge, temporal = int(proc.patch_size), int(proc.merge_size), int(proc.temporal_patch_size)
        height, width = smart_resize(
            rgb.shape[0], rgb.shape[1], factor=patch * merge,
            min_pixels=proc.size["shortest_edge"], max_pixels=proc.size["longest_edge"],
        )
        resized = np.asarray(Image.fromarray(rgb).resize((width, height), resample=self._resample))
        gh, gw = height // patch, width // patch
        # (gh/m, m, p, gw/m, m, p, c) -> (gh/m, gw/m, m, m, c, p, p): the processor's patch order
        blocks = resized.reshape(gh // merge, merge, patch, gw // merge, merge, patch, 3)
        blocks = blocks.transpose(0, 3, 1, 4, 6, 2, 5).reshape(gh * gw, 3, patch, patch)
        out = np.empty((gh * gw, 3, temporal, patch, patch), np.float32)
        for c in range(3):
            out[:, c, 0] = self._lut[c][blocks[:, c]]
        out[:, :, 1:] = out[:, :, :1]  # a still image repeats over the temporal patch
        return out.reshape(gh * gw, -1), (1, gh, gw)

    def tokens(self, grid_thw: tuple[int, int, int]) -> int:
        t, h, w = grid_thw
        return t * h * w // self.merge_size**2


def _normalise_table(proc: Any) -> np.ndarray:
    """(3, 256) float32: what the processor's rescale then normalise make of each uint8 value, by
    its own functions, so the lookup reproduces its arithmetic exactly."""
    from transformers.image_transforms import normalize, rescale

    values = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None], (3, 256, 1))
    scaled = rescale(values, float(proc.rescale_factor), input_data_format="channels_first")
    table = normalize(scaled, proc.image_mean, proc.image_std, input_data_format="channels_first")
    return np.ascontiguousarray(table[:, :, 0], dtype=np.float32)


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
