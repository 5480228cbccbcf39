"""Shared pieces of the local reranker tests: a loaded tiny model and deterministic test images."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")


def png_bytes(width: int, height: int, seed: int) -> bytes:
    """A noisy RGB image (noise so that different images give clearly different features)."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def m0(tiny_m0_dir: Path) -> Iterator[object]:
    from reranker.m0.reranker import M0Reranker

    model = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", dtype="fp32", max_length=2048)
    yield model
    model.close()
