"""Where a run embeds its pages. Which embedder it uses, and the refusal of one that does not
match the store's, is docstore.embedders.binding's business."""

from __future__ import annotations

from docstore.embedders import Embedder


def embed_in_workers(embedder: Embedder, mode: str) -> bool:
    """`mode` is IndexOptions.embed_in: "workers", "parent", or "auto", which follows the embedder's
    own `runs_in_workers`."""
    if mode != "auto":
        return mode == "workers"
    return embedder.runs_in_workers
