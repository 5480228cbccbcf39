"""The one rerank router, mounted by `folio serve` and `folio rerank-server` alike, serving every
dialect in `DIALECTS` (reranker.dialects): Jina's contract (`/v1/rerank`, which Cohere v1 and vLLM
rerank clients speak too), Cohere's v2 (`/v2/rerank`), vLLM's score (`/score`) and the OpenAI-style
model list (`/v1/models`). Every route validates, hands the call to the one engine through
`RerankCalls` and shapes the answer; the engine owns admission, queueing, batching and the deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends

from reranker.dialects import cohere, jina, vllm
from reranker.serving.calls import DocumentResolver, ImageReader, RerankCalls
from reranker.serving.engine import RerankEngine

# How each dialect adds its routes, in this order (that of the OpenAPI schema); a new dialect is a
# new module in reranker.dialects, named here.
DIALECTS: tuple[Callable[[APIRouter, RerankCalls], None], ...] = (
    jina.add_routes,
    cohere.add_routes,
    vllm.add_routes,
)

__all__ = ["ERROR_RESPONSES", "ImageReader", "build_rerank_router"]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid API key"},
    413: {"description": "an image over a size limit, or a body over the server's limit"},
    422: {"description": "an invalid request, or a query or document that cannot be scored"},
    503: {"description": "the reranker is busy, loading or failing: retry later"},
    504: {"description": "the reranker did not answer within its deadline"},
}


def build_rerank_router(
    get_engine: Callable[[], RerankEngine | None],
    authorize: Callable[..., Any],
    read_image: ImageReader | None = None,
    resolve_documents: DocumentResolver | None = None,
) -> APIRouter:
    """`get_engine()` is asked per request (a model may still be loading: 503); `authorize` is the
    app's FastAPI dependency that admits a caller (or raises 401), on every route, so page
    references (`resolve_documents`) resolve only for callers it admits."""
    router = APIRouter(tags=["rerank"], dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)
    calls = RerankCalls(get_engine, read_image, resolve_documents)

    for add_routes in DIALECTS:
        add_routes(router, calls)
    return router
