"""The one `/v1/rerank` route (Jina's contract), mounted by `folio serve` and `folio rerank-server`
alike. It validates, hands the call to the engine and shapes the answer; the engine owns admission,
queueing, batching and the deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool

from reranker.errors import CandidateError, RerankError
from reranker.jina_schema import RerankRequest, RerankResponse, WireItem, response_from_scores, to_item
from reranker.serving.engine import RerankEngine
from reranker.serving.http_errors import rerank_failed, unscorable
from reranker.types import Candidate, ImageInput

# Reads a request's image before the engine sees it (e.g. with the API's own limits); raises
# CandidateError. Without one, images go to the scorer as they came.
ImageReader = Callable[[ImageInput], Candidate]

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
) -> APIRouter:
    """`get_engine()` is asked per request (a model may still be loading: 503); `authorize` is the
    app's FastAPI dependency that admits a caller (or raises 401)."""
    router = APIRouter(tags=["rerank"])

    def inputs(body: RerankRequest) -> tuple[Candidate, list[Candidate]]:
        items: list[tuple[str, WireItem]] = [("query", body.query)]
        items += [(f"documents[{i}]", d) for i, d in enumerate(body.documents)]
        converted: list[Candidate] = []
        errors: list[tuple[str, CandidateError]] = []
        for where, item in items:
            candidate = to_item(item)
            if read_image is not None and isinstance(candidate, ImageInput):
                try:
                    candidate = read_image(candidate)
                except CandidateError as exc:
                    errors.append((where, exc))
            converted.append(candidate)
        if errors:
            raise unscorable(errors)
        return converted[0], converted[1:]

    @router.post(
        "/v1/rerank",
        response_model=RerankResponse,
        response_model_exclude_none=True,
        responses=ERROR_RESPONSES,
        summary="Jina-compatible rerank: score documents (text or images) against a query",
        dependencies=[Depends(authorize)],
    )
    async def rerank(body: RerankRequest) -> RerankResponse:
        engine = get_engine()
        if engine is None:
            raise HTTPException(
                503, "the reranker is not available (loading, or none is configured)", {"Retry-After": "5"}
            )
        if isinstance(body.query, str) and not body.query.strip():
            raise HTTPException(422, "query: the query text is empty")
        # An image reader may fetch a URL: off the event loop.
        query, documents = await run_in_threadpool(inputs, body) if read_image else inputs(body)
        try:
            scored = await engine.arerank(query, documents)
        except RerankError as exc:
            raise rerank_failed(exc) from None
        if errors := scored.errors:
            raise unscorable([(f"documents[{i}]", e) for i, e in errors])
        return response_from_scores(
            body.model or scored.model,
            body.documents,
            scored,
            top_n=body.top_n,
            return_documents=body.return_documents,
        )

    return router
