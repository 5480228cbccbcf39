"""Embedders from any Hugging Face model: sentence-transformers, or transformers + mean pooling.
Both import their (heavy, torch-based) packages lazily and fail with a clear message."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from docstore.embedders.base import l2_normalise, optional_import

BATCH = 32


class SentenceTransformerEmbedder:
    runs_in_workers = False  # torch models batch well and are too big to load per worker

    def __init__(self, model_id: str) -> None:
        st = optional_import(
            "sentence_transformers", "sentence-transformers embedders", "sentence-transformers"
        )
        self._model: Any = st.SentenceTransformer(model_id)
        self.name = f"sentence-transformers:{model_id}"
        self.dim = int(self._model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(texts, batch_size=BATCH, normalize_embeddings=True)
        return l2_normalise(np.asarray(vectors))


class HfMeanPoolEmbedder:
    runs_in_workers = False  # as above

    def __init__(self, model_id: str) -> None:
        torch = optional_import("torch", "hf: embedders", "folio-search[rerank]")
        transformers = optional_import("transformers", "hf: embedders", "folio-search[rerank]")
        AutoModel, AutoTokenizer = transformers.AutoModel, transformers.AutoTokenizer  # noqa: N806
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
