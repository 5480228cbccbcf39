"""Folio's document store: page schema, the `Store` protocol, SQLite and OpenSearch backends,
embedders and rank fusion."""

from docstore.protocol import Store
from docstore.schema import DocumentInfo, Filters, Hit, Page, SearchMode, SearchRequest
from docstore.store import open_store

__all__ = [
    "DocumentInfo",
    "Filters",
    "Hit",
    "Page",
    "SearchMode",
    "SearchRequest",
    "Store",
    "open_store",
]
