"""vLLM's score API (`POST /score`, and `/v1/score` where older vLLM served it) and the OpenAI-style
model list (`GET /v1/models`, which vLLM's examples and several clients call first): their pydantic
models, conversions between them and Folio's reranker types, and their routes. Teams that serve m0
with vLLM send these; Folio answers them unchanged. vLLM's rerank shape is Jina's contract, served
by the Jina route (`/v1/rerank`, `/rerank`).

Score: {"model"?, "text_1": str | [str | content] | content, "text_2": str | [str | content] | content,
        "truncate_prompt_tokens"?}
  -> {"id", "object": "list", "created", "model", "data": [{"index", "object": "score", "score"}],
      "usage": {"prompt_tokens", "total_tokens", "completion_tokens"}}
  text_1 holds the queries, text_2 the documents: one query for every document (1:N) or one query
  per document (N:N), in vLLM's order. Newer vLLM names (`data_1`/`data_2`, `queries`/`documents`)
  are accepted too. `content` is as in reranker.dialects.vllm_inputs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from reranker.dialects.vllm_inputs import Content, content_item, doc_token_cap, spread_content
from reranker.serving.calls import RerankCalls, empty_query
from reranker.serving.http_errors import DialectRoute
from reranker.types import Candidate, RerankScores

# Items per side of a score call (the same bound as Jina's documents per call).
MAX_ITEMS = 1024

ScoreItem = str | Content


def score_item(item: ScoreItem) -> Candidate:
    return item if isinstance(item, str) else content_item(item)


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. vLLM's priority, use_activation

    model: str | None = None
    text_1: list[ScoreItem] = Field(
        min_length=1, max_length=MAX_ITEMS, validation_alias=AliasChoices("text_1", "data_1", "queries")
    )
    text_2: list[ScoreItem] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        validation_alias=AliasChoices("text_2", "data_2", "documents", "items"),
    )
    # vLLM's truncation: Folio cuts each document to this many tokens (-1: the model's own limit).
    truncate_prompt_tokens: int | None = Field(default=None, ge=-1)

    @field_validator("text_1", "text_2", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else spread_content(value)


T = TypeVar("T")


def pair_up(queries: Sequence[T], documents: Sequence[T]) -> list[tuple[T, T]]:
    """(query, document) pairs in vLLM's order: one query for every document, or one per document.
    ValueError for any other shape."""
    if len(queries) == 1:
        return [(queries[0], d) for d in documents]
    if len(queries) == len(documents):
        return list(zip(queries, documents, strict=True))
    raise ValueError(f"text_1 and text_2 must be 1:N or N:N, not {len(queries)}:{len(documents)}")


class ScoreData(BaseModel):
    index: int
    object: str = "score"
    score: float


class ScoreUsage(BaseModel):
    prompt_tokens: int = 0
    total_tokens: int = 0
    completion_tokens: int = 0


class ScoreResponse(BaseModel):
    id: str
    object: str = "list"
    created: int
    model: str
    data: list[ScoreData]
    usage: ScoreUsage


def score_response(model: str, scored: RerankScores) -> ScoreResponse:
    """vLLM's answer: one score per pair in the order sent (not ranked). Pairs that failed never
    get here (the route answers 422 naming them)."""
    data = [ScoreData(index=i, score=float(s)) for i, s in enumerate(scored.scores) if isinstance(s, float)]
    tokens = scored.total_tokens
    return ScoreResponse(
        id=f"score-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model,
        data=data,
        usage=ScoreUsage(prompt_tokens=tokens, total_tokens=tokens),
    )


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "folio"


class ModelList(BaseModel):
    """`GET /v1/models` as OpenAI and vLLM answer it; clients read `data[0].id` for the model name."""

    object: str = "list"
    data: list[ModelCard]


def add_routes(router: APIRouter, calls: RerankCalls) -> None:
    listed_since = int(time.time())

    async def score(body: ScoreRequest, response: Response) -> ScoreResponse:
        engine = calls.engine()
        try:
            pair_up(body.text_1, body.text_2)  # the shape first: nothing is read for a bad one
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if empty := [f"text_1[{i}]" for i, q in enumerate(body.text_1) if empty_query(q)]:
            raise HTTPException(422, f"{empty[0]}: the query text is empty")
        items = [(f"text_1[{i}]", q) for i, q in enumerate(body.text_1)]
        items += [(f"text_2[{i}]", d) for i, d in enumerate(body.text_2)]
        converted = await calls.inputs(items, score_item)
        n = len(body.text_1)
        pairs = pair_up(converted[:n], await calls.documents(converted[n:], "text_2"))
        cap = doc_token_cap(body.truncate_prompt_tokens)
        scored = await calls.score(engine, pairs, "text_2", response, cap)
        return score_response(body.model or scored.model, scored)

    for path, listed in (("/score", True), ("/v1/score", False)):
        router.add_api_route(
            path,
            score,
            methods=["POST"],
            response_model=ScoreResponse,
            summary="vLLM-compatible score: one score per (text_1, text_2) pair, in the order sent",
            include_in_schema=listed,
            route_class_override=DialectRoute,
        )

    async def models() -> ModelList:
        return ModelList(data=[ModelCard(id=calls.engine().model_name, created=listed_since)])

    router.add_api_route(
        "/v1/models",
        models,
        methods=["GET"],
        response_model=ModelList,
        summary="The served model, as OpenAI's and vLLM's model list",
        route_class_override=DialectRoute,
    )
