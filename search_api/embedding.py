"""Query embedding for kNN and hybrid search. Queries must be embedded the way the pages were,
so the embedder recorded in the store (`embedder` meta) wins over the server setting; it is
loaded on first use (the default model takes a moment) and reused after."""

from __future__ import annotations

import threading

from fastapi import HTTPException

from docstore.protocol import Store


class QueryEmbedder:
    def __init__(self, store: Store, configured: str | None) -> None:
        self._store = store
        self._configured = configured
        self._lock = threading.Lock()
        self._embedder: object | None = None
        self._from_store = False  # resolved from store meta (final) or a fallback (re-check later)

    def _resolve(self) -> object:
        with self._lock:
            if self._embedder is not None and self._from_store:
                return self._embedder
            from docstore.embedders import EmbedderUnavailable, get_embedder

            recorded = self._store.get_meta("embedder")
            name = recorded or self._configured
            if self._embedder is None or recorded:
                try:
                    self._embedder = get_embedder(name)
                except (EmbedderUnavailable, ValueError, ImportError) as exc:
                    raise HTTPException(
                        status_code=503, detail=f"the query embedder {name!r} is unavailable: {exc}"
                    ) from None
                self._from_store = bool(recorded)
            return self._embedder

    def warm_up(self) -> None:
        """Load the embedder before the first query needs it (a model load takes ~0.5 s); failures
        are left for that query to report."""
        try:
            self._resolve().encode(["warm up"])  # type: ignore[attr-defined]  # embedders load lazily
        except Exception:  # store down or embedder missing: the first search says so with a 503
            pass

    def __call__(self, text: str) -> list[float]:
        embedder = self._resolve()
        vectors = embedder.encode([text])  # type: ignore[attr-defined]
        return [float(x) for x in vectors[0]]
