"""Feature-hashing embedder: deterministic, instant, dependency-free; for tests and benchmarks.

Words (and CJK bigrams) are hashed to signed buckets, so texts sharing words get a positive
cosine. It knows no synonyms: use it only where speed matters more than meaning."""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from docstore.analysis import CJK_RUN, tokens
from docstore.embedders.base import l2_normalise


def _features(text: str) -> list[str]:
    feats: list[str] = []
    for tok in tokens(text):
        if CJK_RUN.fullmatch(tok) and len(tok) > 1:
            feats.extend(tok[i : i + 2] for i in range(len(tok) - 1))
        else:
            feats.append(tok)
    return feats


class HashEmbedder:
    runs_in_workers = False  # hashing costs less than handing the text to a worker

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.name = f"hash:{dim}"

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in _features(text):
                digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        return l2_normalise(out)
