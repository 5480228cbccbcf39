"""Where a server's API keys live: the store's own keys index for an OpenSearch store (shared by
every API replica), else a SQLite keys file."""

from __future__ import annotations

from docstore.opensearch.store import OpenSearchStore
from docstore.protocol import Store
from search_api.keys import KeyFile, KeyStore
from search_api.keys_in_store import StoreKeys
from search_api.settings import Settings


def open_keys(settings: Settings, store: Store) -> KeyStore:
    """The keys of a server on `store`: in the store itself when it is OpenSearch (shared by every
    replica), unless a keys file is set; else the keys file (beside a SQLite store by default)."""
    if settings.keys_file is None and isinstance(store, OpenSearchStore):
        return StoreKeys(store, cache_s=settings.key_cache_s)
    return KeyFile(settings.resolved_keys_file())
