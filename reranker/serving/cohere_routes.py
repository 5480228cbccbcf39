"""Cohere's v2 rerank (`POST /v2/rerank`) on the one rerank router: what LiteLLM's `cohere`
provider, Cohere's `ClientV2` and LangChain's `CohereRerank` send when given Folio's base URL."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from reranker.cohere_schema import CohereRerankRequest, CohereRerankResponse, cohere_response
from reranker.serving.calls import RerankCalls, empty_query
from reranker.serving.http_errors import DialectRoute


def add_cohere_routes(router: APIRouter, calls: RerankCalls) -> None:
    async def rerank_v2(body: CohereRerankRequest) -> CohereRerankResponse:
        engine = calls.engine()
        if empty_query(body.query):
            raise HTTPException(422, "query: the query text is empty")
        documents = await calls.documents(body.candidates(), "documents")  # texts, or page references
        pairs = [(body.query, d) for d in documents]
        scored = await calls.score(engine, pairs, "documents", body.max_tokens_per_doc)
        return cohere_response(
            body.documents, scored, top_n=body.top_n, return_documents=body.return_documents
        )

    router.add_api_route(
        "/v2/rerank",
        rerank_v2,
        methods=["POST"],
        response_model=CohereRerankResponse,
        response_model_exclude_none=True,
        summary="Cohere-compatible rerank (v2): score text documents against a query",
        route_class_override=DialectRoute,
    )
