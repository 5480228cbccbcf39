"""Rerank backends, each a `reranker.types.Scorer` that a `RerankEngine` serves: the local m0 model,
Jina's hosted API, and any server speaking the Jina rerank contract. See `make_backend`."""

from reranker.backends.factory import make_backend

__all__ = ["make_backend"]
