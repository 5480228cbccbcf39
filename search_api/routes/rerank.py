from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from reranker.jina_schema import (
    ImageDoc,
    RerankRequest,
    RerankResponse,
    ResultItem,
    Usage,
    WireItem,
    echo_document,
)
from reranker.types import Candidate, ImageInput, TextInput
from search_api.auth import Caller, get_caller
from search_api.models import ErrorResponse
from search_api.query_image import image_limits, load_request_image
from search_api.rerank_runner import RerankSkipped
from search_api.routes.deps import services

router = APIRouter(tags=["rerank"])

MAX_DOCUMENTS = 1000


def _to_candidate(request: Request, item: WireItem, where: str) -> Candidate:
    """Text passes through; images are read and decoded here so a bad one is a clear 4xx."""
    if isinstance(item, str):
        return item
    if not isinstance(item, ImageDoc):
        return TextInput(item.text)
    try:
        raw, _ = load_request_image(item.image, image_limits(services(request).settings))
    except HTTPException as exc:
        raise HTTPException(status_code=exc.status_code, detail=f"{where}: {exc.detail}") from None
    return ImageInput(raw)


@router.post(
    "/v1/rerank",
    response_model=RerankResponse,
    response_model_exclude_none=True,
    responses={code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 503)},
    summary="Jina-compatible rerank: score documents (text or images) against a query",
)
async def rerank(
    request: Request, body: RerankRequest, caller: Caller = Depends(get_caller)
) -> RerankResponse:
    svc = services(request)
    if len(body.documents) > MAX_DOCUMENTS:
        raise HTTPException(status_code=400, detail=f"at most {MAX_DOCUMENTS} documents per request")
    if not svc.runner.enabled:
        raise HTTPException(status_code=503, detail="no reranker is configured on this server")
    with svc.rerank_limit.slot():

        def _work() -> RerankResponse:
            query = _to_candidate(request, body.query, "query")
            docs = [_to_candidate(request, d, f"documents[{i}]") for i, d in enumerate(body.documents)]
            try:
                output = svc.runner.rerank(query, docs, svc.settings.rerank_budget_ms / 1000, top_n=None)
            except RerankSkipped as exc:
                raise HTTPException(status_code=503, detail=str(exc)) from None
            ranked = sorted(output.results, key=lambda r: (-r.relevance_score, r.index))
            if body.top_n is not None:
                ranked = ranked[: body.top_n]
            results = [
                ResultItem(
                    index=r.index,
                    relevance_score=float(r.relevance_score),
                    document=echo_document(body.documents[r.index]) if body.return_documents else None,
                )
                for r in ranked
                if 0 <= r.index < len(body.documents)
            ]
            return RerankResponse(
                model=output.model or body.model or "",
                usage=Usage(total_tokens=output.total_tokens),
                results=results,
            )

        return await run_in_threadpool(_work)
