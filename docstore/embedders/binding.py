"""Which embedder a store's pages are embedded with. Indexing records it in the store's meta
(`embedder`; the vector size `dim` comes with `Store.ensure`), search reads it back, so queries
are embedded exactly as the pages were. Every reader and writer of those keys goes through here."""

from __future__ import annotations

from docstore.embedders import Embedder, get_embedder
from docstore.protocol import Store

EMBEDDER_KEY = "embedder"
DIM_KEY = "dim"


class EmbedderMismatch(ValueError):
    """The store's pages were embedded with another embedder than the one asked for."""


def recorded_embedder(store: Store) -> str | None:
    """The name of the embedder the store was built with; None before anything was indexed."""
    return store.get_meta(EMBEDDER_KEY) or None


def recorded_dim(store: Store) -> int | None:
    value = store.get_meta(DIM_KEY)
    return int(value) if value else None


def embedder_for_indexing(
    store: Store, requested: str | None = None, loaded: Embedder | None = None
) -> Embedder:
    """`requested`, else the store's embedder, else get_embedder's default (cheap: embedders load
    on first use; `loaded` is returned when it is that one). Raises EmbedderMismatch when the store
    holds pages embedded with another one."""
    recorded = recorded_embedder(store)
    embedder = _reuse(get_embedder(requested or recorded), loaded)
    _refuse_mismatch(store, recorded, embedder)
    return embedder


def record_embedder(store: Store, embedder: Embedder) -> None:
    """Bind the store to `embedder` before pages embedded with it are written: sizes the vector
    field and records the name. Raises EmbedderMismatch like embedder_for_indexing."""
    recorded = recorded_embedder(store)
    _refuse_mismatch(store, recorded, embedder)
    store.ensure(embedder.dim)
    if recorded != embedder.name:
        store.set_meta(EMBEDDER_KEY, embedder.name)


def query_embedder(store: Store, loaded: Embedder | None = None) -> Embedder | None:
    """For search: the embedder the store's pages were embedded with (`loaded` when it is that
    one), None if none is recorded (then the store holds no vectors)."""
    recorded = recorded_embedder(store)
    return _reuse(get_embedder(recorded), loaded) if recorded else None


def _reuse(embedder: Embedder, loaded: Embedder | None) -> Embedder:
    # A loaded model is worth keeping: loading one is costly, and more so for the larger models.
    return loaded if loaded is not None and loaded.name == embedder.name else embedder


def _refuse_mismatch(store: Store, recorded: str | None, embedder: Embedder) -> None:
    # An empty store may change its embedder (its vector size still has to match, see ensure).
    if recorded and recorded != embedder.name and store.count() > 0:
        raise EmbedderMismatch(
            f"the store's pages were embedded with {recorded!r}, not {embedder.name!r}: "
            "index into another store, or delete its documents first"
        )
