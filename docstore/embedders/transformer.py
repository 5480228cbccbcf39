"""Embedders from any Hugging Face model: sentence-transformers, or transformers + mean pooling.
Both import their (heavy, torch-based) packages lazily and fail with a clear message."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from docstore.embedders.base import EmbedderUnavailable, l2_normalise

BATCH = 32


class SentenceTransformerEmbedder:
    def __init__(self, model_id: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
        except ImportError as exc:
            raise EmbedderUnavailable(
                "sentence-transformers embedders need `pip install sentence-transformers`"
            ) from exc
        self._model: Any = SentenceTransformer(model_id)
        self.name = f"sentence-transformers:{model_id}"
        self.dim = int(self._model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(texts, batch_size=BATCH, normalize_embeddings=True)
        return l2_normalise(np.asarray(vectors))


class HfMeanPoolEmbedder:
    def __init__(self, model_id: str) -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(
                "hf: embedders need the extra: `pip install folio-search[rerank]`"
            ) from exc
        self._torch: Any = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(model_id)
        self._model: Any = AutoModel.from_pretrained(model_id).eval()
        self.name = f"hf:{model_id}"
        self.dim = int(self._model.config.hidden_size)

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            batch = self._tokenizer(
                texts[start : start + BATCH],
                padding=True,
                truncation=True,
                max_length=512,
                return_tensors="pt",
            )
            with self._torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state  # (batch, seq, hidden)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # (batch, hidden)
            out[start : start + len(pooled)] = pooled.float().numpy()
        return l2_normalise(out)
