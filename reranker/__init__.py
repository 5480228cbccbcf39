"""Folio's reranker: jina-reranker-m0 scoring of mixed text and image candidates, batching,
caches and backends (local model, Jina's hosted API, any Jina-compatible server)."""

from reranker.types import ImageInput, RerankBackend, RerankOutput, RerankResult, TextInput

__all__ = ["ImageInput", "RerankBackend", "RerankOutput", "RerankResult", "TextInput"]
