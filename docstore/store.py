"""`open_store(url)`: the one factory for a store from its URL."""

from __future__ import annotations

import os

from docstore.protocol import Store

DEFAULT_STORE_URL = "sqlite:///.folio/folio.db"


def open_store(url: str | None = None) -> Store:
    """`sqlite:///path/folio.db` or `opensearch://host:9200` (`opensearchs://` for TLS)."""
    url = url or os.environ.get("FOLIO_STORE") or DEFAULT_STORE_URL
    if url.startswith("sqlite://"):
        from docstore.sqlite.store import SqliteStore

        return SqliteStore(url)
    if url.startswith(("opensearch://", "opensearchs://", "http://", "https://")):
        from docstore.opensearch.store import OpenSearchStore

        return OpenSearchStore(url)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path/folio.db or opensearch://host:9200")
