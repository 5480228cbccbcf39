"""The document prefix of a prompt and an LRU of its keys/values, bounded by bytes. Everything up
to the end of the document is independent of the query, so a candidate reached by many queries runs
its document tokens through the language model once; later queries run only their own tokens.

The prefix is the longest run of the prompt's token ids that equals the tokenisation of the
document part alone, so a BPE merge across the document/query boundary can never make a cached
prefix disagree with the full prompt: the cache is keyed by those very ids."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from reranker.lru import ByteLRU, LRUFront


@dataclass(frozen=True)
class PrefixKV:
    kv: torch.Tensor  # (layers, 2, kv_heads, length, head_dim)
    grid: tuple[int, int, int] | None  # the document image's grid, so a cached page needs no decoding

    @property
    def length(self) -> int:
        return int(self.kv.shape[-2])

    @property
    def nbytes(self) -> int:
        return self.kv.numel() * self.kv.element_size()


def common_length(full: Sequence[int], prefix: Sequence[int]) -> int:
    n = 0
    for a, b in zip(full, prefix, strict=False):
        if a != b:
            break
        n += 1
    return n


def prefix_key(ids: Sequence[int], image_key: str | None, max_length: int) -> str:
    """Identifies the prefix's keys/values: its token ids, the document image's content and the
    truncation setting (the model is the cache owner's)."""
    digest = hashlib.blake2b(np.asarray(ids, dtype=np.int64).tobytes(), digest_size=16)
    digest.update(f"|{image_key}|{max_length}".encode())
    return digest.hexdigest()


class PrefixCache(LRUFront[PrefixKV]):
    """LRU of PrefixKV by prefix key, plus the grid of each cached page by image key."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(ByteLRU(max_bytes, lambda item: item.nbytes))
        self._grids: dict[str, tuple[str, tuple[int, int, int]]] = {}  # image key -> (prefix key, grid)

    @property
    def enabled(self) -> bool:
        return self._lru.max_bytes > 0

    def get(self, key: str) -> PrefixKV | None:
        return self._lru.get(key)

    def grid(self, image_key: str) -> tuple[int, int, int] | None:
        found = self._grids.get(image_key)
        return None if found is None or found[0] not in self._lru else found[1]

    def put(self, key: str, item: PrefixKV, image_key: str | None = None) -> None:
        if not self._lru.put(key, item) or image_key is None or item.grid is None:
            return
        with self._lru.lock:
            self._grids[image_key] = (key, item.grid)
            if len(self._grids) > 2 * len(self._lru) + 64:  # drop grids of evicted prefixes
                self._grids = {k: v for k, v in self._grids.items() if v[0] in self._lru}

    def clear(self) -> None:
        super().clear()
        self._grids.clear()
