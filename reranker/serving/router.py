"""The one rerank router, mounted by `folio serve` and `folio rerank-server` alike: Jina's contract
(`/v1/rerank`, which Cohere v1 and vLLM rerank clients speak too), Cohere's v2 (`/v2/rerank`),
vLLM's score (`/score`) and the OpenAI-style model list (`/v1/models`). Every route validates, hands
the call to the one engine through `RerankCalls` and shapes the answer; the engine owns admission,
queueing, batching and the deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response

from reranker.jina_schema import (
    CACHE_HITS_HEADER,
    RerankRequest,
    RerankResponse,
    response_from_scores,
    to_item,
)
from reranker.serving.calls import DocumentResolver, ImageReader, RerankCalls, empty_query
from reranker.serving.cohere_routes import add_cohere_routes
from reranker.serving.engine import RerankEngine
from reranker.serving.vllm_routes import add_vllm_routes

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

    async def rerank(body: RerankRequest, response: Response) -> RerankResponse:
        engine = calls.engine()
        if empty_query(body.query):
            raise HTTPException(422, "query: the query text is empty")
        items = [("query", body.query), *((f"documents[{i}]", d) for i, d in enumerate(body.documents))]
        query, *documents = await calls.inputs(items, to_item)
        documents = await calls.documents(documents, "documents")
        pairs = [(query, d) for d in documents]
        scored = await calls.score(engine, pairs, "documents", body.doc_token_cap())
        response.headers[CACHE_HITS_HEADER] = str(scored.cache_hits)
        return response_from_scores(
            body.model or scored.model,
            body.documents,
            scored,
            top_n=body.top_n,
            return_documents=body.return_documents,
        )

    # vLLM serves the same contract at /rerank (where LiteLLM's hosted_vllm provider posts).
    for path, listed in (("/v1/rerank", True), ("/rerank", False)):
        router.add_api_route(
            path,
            rerank,
            methods=["POST"],
            response_model=RerankResponse,
            response_model_exclude_none=True,
            summary="Jina-compatible rerank: score documents (text or images) against a query",
            include_in_schema=listed,
        )
    add_cohere_routes(router, calls)
    add_vllm_routes(router, calls)
    return router
