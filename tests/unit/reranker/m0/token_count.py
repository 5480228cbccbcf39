"""An independent token count for usage tests, without running the model: text via the tokenizer,
images from their header size (or the cached grid), with the image processor's resize rule."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from PIL import Image

from reranker.errors import CandidateError
from reranker.images import read_image
from reranker.m0.prepare import Preparer, Side, as_input
from reranker.m0.vision import PreparedImage
from reranker.types import ImageInput


class TokenCounter:
    def __init__(self, preparer: Preparer) -> None:
        self.preparer = preparer

    def _image_grid(self, source: Any) -> PreparedImage:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        key, payload = read_image(source, self.preparer.limits)
        grid = self.preparer.cache.grid(key)
        if grid is None:
            size = payload.size if isinstance(payload, Image.Image) else Image.open(io.BytesIO(payload)).size
            proc = self.preparer.preprocessor.processor
            patch = int(proc.patch_size)
            factor = patch * int(proc.merge_size)
            height, width = smart_resize(
                size[1], size[0], factor=factor,
                min_pixels=proc.size["shortest_edge"], max_pixels=proc.size["longest_edge"],
            )
            grid = (1, height // patch, width // patch)
        return PreparedImage(key=key, grid_thw=grid, pixel_values=None)

    def _side(self, value: Any, what: str) -> Side:
        item = as_input(value)
        if isinstance(item, ImageInput):
            return Side(image=self._image_grid(item.image))
        return self.preparer.prepare_side(item.text, what)

    def count(self, pairs: Sequence[tuple[Any, Any]]) -> int:
        total = 0
        queries: dict[Any, Side | None] = {}
        for query, candidate in pairs:
            key = query if isinstance(query, str) else id(query)
            if key not in queries:
                try:
                    queries[key] = self._side(query, "query")
                except (CandidateError, OSError):
                    queries[key] = None
            side = queries[key]
            if side is None:
                continue
            try:
                pair = self.preparer.encode(0, side, self._side(candidate, "document"), with_prefix=False)
                total += len(pair.encoded or [])
            except (CandidateError, OSError):
                continue
        return total


def count_tokens(m0: Any, pairs: Sequence[tuple[Any, Any]]) -> int:
    """An independent count of what `pairs` should cost on `m0` (an `M0Reranker`), without scoring."""
    return TokenCounter(m0.preparer).count(pairs)
