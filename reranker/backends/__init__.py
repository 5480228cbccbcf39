"""Rerank backends behind one interface (`reranker.types.RerankBackend`): the local m0 model,
Jina's hosted API, and any server speaking the Jina rerank contract. See `make_backend`."""

from reranker.backends.factory import make_backend

__all__ = ["make_backend"]
