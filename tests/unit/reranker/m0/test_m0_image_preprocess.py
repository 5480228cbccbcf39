"""The fast image preprocessing gives the very same pixel values and grid as Qwen2-VL's own image
processor, for the image kinds pages and photos come in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reranker.m0.vision import ImagePreprocessor


def _images() -> dict[str, Image.Image]:
    rng = np.random.default_rng(7)
    page = np.full((1170, 827, 3), 250, np.uint8)  # an A4 page at 100 dpi: resized down to the cap
    page[100:1000:20, 80:700] = rng.integers(0, 90, (45, 620, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (300, 200, 4), dtype=np.uint8)  # transparency goes onto white
    return {
        "page": Image.fromarray(page),
        "tiny (scaled up to the minimum)": Image.fromarray(rng.integers(0, 256, (30, 45, 3), dtype=np.uint8)),
        "rgba": Image.fromarray(rgba, "RGBA"),
        "grey": Image.fromarray(rng.integers(0, 256, (123, 456), dtype=np.uint8), "L"),
        "palette": Image.fromarray(page).convert("P"),
        "large photo": Image.fromarray(rng.integers(0, 256, (2000, 1500, 3), dtype=np.uint8)),
    }


@pytest.mark.parametrize("name", list(_images()))
def test_fast_preprocessing_is_bit_identical(tiny_m0_dir: Path, name: str) -> None:
    pre = ImagePreprocessor(tiny_m0_dir)
    image = _images()[name]
    want, want_grid = pre.stock(image)
    got, got_grid = pre(image)
    assert got_grid == want_grid
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)
    assert pre.tokens(got_grid) <= 768  # m0's pixel cap holds
