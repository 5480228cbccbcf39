"""Cohere's v2 rerank contract (`POST /v2/rerank`): its pydantic models, conversions between it and
Folio's reranker types, and its route, what LiteLLM's `cohere` provider, Cohere's `ClientV2` and
LangChain's `CohereRerank` send when given Folio's base URL. Cohere's v1 requests fit the Jina
contract and are served there.

Request:  {"model", "query": str, "documents": [str], "top_n"?, "max_tokens_per_doc"?}
Response: {"id", "results": [{"index", "relevance_score"}],
           "meta": {"api_version": {"version"}, "billed_units": {"search_units"}, "tokens": {...}}}
Documents are text only, as in Cohere's API; `{"text": ...}` objects (Cohere's older form) are
accepted too.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reranker.dialects.jina import MAX_DOCUMENTS, TextDoc
from reranker.serving.calls import RerankCalls, empty_query
from reranker.serving.http_errors import DialectRoute
from reranker.types import Candidate, RerankScores, TextInput, rank_results

# Cohere bills one search unit per query with up to 100 documents.
DOCUMENTS_PER_SEARCH_UNIT = 100


class CohereRerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. "priority", "rank_fields"

    model: str | None = None  # required by Cohere; Folio serves one model whatever the name
    query: Annotated[str, StringConstraints(min_length=1)]
    documents: list[str | TextDoc] = Field(min_length=1, max_length=MAX_DOCUMENTS)
    top_n: int | None = Field(default=None, ge=1)
    max_tokens_per_doc: int | None = Field(
        default=None, ge=1, description="cut each document to at most this many tokens"
    )
    # Not in Cohere's v2 API; some clients (LiteLLM) send it anyway.
    return_documents: bool = False

    def candidates(self) -> list[Candidate]:
        return [d if isinstance(d, str) else TextInput(d.text) for d in self.documents]


class CohereResult(BaseModel):
    index: int
    relevance_score: float
    document: TextDoc | None = None


class ApiVersion(BaseModel):
    version: str = "2"


class BilledUnits(BaseModel):
    search_units: int


class Tokens(BaseModel):
    input_tokens: int
    output_tokens: int = 0


class Meta(BaseModel):
    api_version: ApiVersion = Field(default_factory=ApiVersion)
    billed_units: BilledUnits
    tokens: Tokens


class CohereRerankResponse(BaseModel):
    id: str
    results: list[CohereResult]
    meta: Meta


def cohere_response(
    documents: Sequence[str | TextDoc], scored: RerankScores, *, top_n: int | None, return_documents: bool
) -> CohereRerankResponse:
    """Cohere's answer: ranked best first (ties in the order given), cut to top_n; the tokens
    scored in `meta.tokens`."""
    results = [
        CohereResult(
            index=r.index,
            relevance_score=r.relevance_score,
            document=_echo(documents[r.index]) if return_documents else None,
        )
        for r in rank_results(scored.scores, top_n)
    ]
    units = max(1, math.ceil(len(documents) / DOCUMENTS_PER_SEARCH_UNIT))
    meta = Meta(billed_units=BilledUnits(search_units=units), tokens=Tokens(input_tokens=scored.total_tokens))
    return CohereRerankResponse(id=str(uuid.uuid4()), results=results, meta=meta)


def _echo(document: str | TextDoc) -> TextDoc:
    return TextDoc(text=document) if isinstance(document, str) else document


def add_routes(router: APIRouter, calls: RerankCalls) -> None:
    async def rerank_v2(body: CohereRerankRequest, response: Response) -> CohereRerankResponse:
        engine = calls.engine()
        if empty_query(body.query):
            raise HTTPException(422, "query: the query text is empty")
        documents = await calls.documents(body.candidates(), "documents")  # texts, or page references
        pairs = [(body.query, d) for d in documents]
        scored = await calls.score(engine, pairs, "documents", response, body.max_tokens_per_doc)
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
