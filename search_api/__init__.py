"""Folio's search service: FastAPI app, Jina-compatible /v1/rerank, portal, auth and the `folio` CLI."""
