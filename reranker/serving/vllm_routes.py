"""vLLM's score API (`POST /score`, and `/v1/score` where older vLLM served it) and the OpenAI-style
model list (`GET /v1/models`, which vLLM's examples and several clients call first) on the one
rerank router. vLLM's rerank shape is served by the Jina route (`/v1/rerank`, `/rerank`)."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException

from reranker.serving.calls import RerankCalls, empty_query
from reranker.serving.http_errors import DialectRoute
from reranker.vllm_schema import (
    ModelCard,
    ModelList,
    ScoreRequest,
    ScoreResponse,
    doc_token_cap,
    pair_up,
    score_item,
    score_response,
)


def add_vllm_routes(router: APIRouter, calls: RerankCalls) -> None:
    listed_since = int(time.time())

    async def score(body: ScoreRequest) -> ScoreResponse:
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
        scored = await calls.score(engine, pairs, "text_2", doc_token_cap(body.truncate_prompt_tokens))
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
