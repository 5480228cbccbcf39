"""Tie a store to one embedder: indexing records it, search reads it back, so queries are
embedded exactly as the pages were (meta keys `embedder` and `dim`)."""

from __future__ import annotations

from docstore.embedders import Embedder, get_embedder
from docstore.protocol import Store

EMBEDDER_KEY = "embedder"


def bind_embedder(store: Store, name: str | None = None) -> Embedder:
    """For indexing: the store's recorded embedder, or `name` (else the default) recorded now.

    Raises ValueError when `name` differs from what the store already holds."""
    recorded = store.get_meta(EMBEDDER_KEY)
    if recorded is not None:
        if name is not None and get_embedder(name).name != recorded:
            raise ValueError(
                f"{store.url} was indexed with embedder {recorded!r}, not {name!r}: use a new store to change it"
            )
        return get_embedder(recorded)
    embedder = get_embedder(name)
    store.ensure(embedder.dim)
    store.set_meta(EMBEDDER_KEY, embedder.name)
    return embedder


def store_embedder(store: Store) -> Embedder | None:
    """For search: the embedder the store's pages were embedded with, None if none recorded."""
    recorded = store.get_meta(EMBEDDER_KEY)
    return get_embedder(recorded) if recorded else None
