"""Query embedding for kNN and hybrid search. Queries must be embedded the way the pages were, so
the store's embedder (docstore.embedders.binding) wins over the server setting, which serves only
until the store records one; it is loaded on first use (the default model takes a moment) and
reused after."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from docstore.embedders.base import encode_queries
from docstore.protocol import Store
from search_api.service_errors import ServiceUnavailable

if TYPE_CHECKING:
    from docstore.embedders import Embedder


class QueryEmbedder:
    def __init__(self, store: Store, configured: str | None) -> None:
        self._store = store
        self._configured = configured
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None
        self._from_store = False  # the store's own (final), or the setting (re-checked each query)

    def _resolve(self) -> Embedder:
        with self._lock:
            if self._embedder is not None and self._from_store:
                return self._embedder
            from docstore.embedders import EmbedderUnavailable, get_embedder
            from docstore.embedders.binding import query_embedder, recorded_embedder

            try:
                recorded = query_embedder(self._store, loaded=self._embedder)
                embedder = recorded or self._embedder or get_embedder(self._configured)
            except (EmbedderUnavailable, ValueError, ImportError) as exc:
                name = recorded_embedder(self._store) or self._configured
                raise ServiceUnavailable(f"the query embedder {name!r} is unavailable: {exc}") from None
            self._embedder, self._from_store = embedder, recorded is not None
            return embedder

    def warm_up(self) -> None:
        """Load the embedder before the first query needs it (a model load is slow); failures
        are left for that query to report."""
        try:
            self._resolve().encode(["warm up"])  # embedders load lazily
        except Exception:  # store down or embedder missing: the first search says so (503)
            pass

    def __call__(self, text: str) -> list[float]:
        vectors = encode_queries(self._resolve(), [text])
        return [float(x) for x in vectors[0]]
