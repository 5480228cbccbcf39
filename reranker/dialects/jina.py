"""Jina's rerank contract (`POST /v1/rerank`, and `/rerank` where vLLM serves it): its pydantic
models, conversions between it and Folio's reranker types, and its route. The models are shared by
the server (parsing requests) and the HTTP backends (building them).

Request:  {"model"?, "query": str | {"text"} | {"image"}, "documents": [str | {"text"} | {"image"}],
           "top_n"?, "return_documents"?, "max_tokens_per_doc"?, "truncation"?}
Response: {"model", "usage": {"total_tokens"}, "results": [{"index", "relevance_score", "document"?}]}
An image is an http(s) URL, a data URL, or bare base64.

The same route serves clients of other dialects whose requests fit: Cohere's v1 rerank (documents as
strings or {"text"}) and vLLM's rerank, whose query and documents may be given as content parts
(see `reranker.dialects.vllm_inputs`) and whose `truncate_prompt_tokens` caps each document.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer, field_validator

from reranker.dialects.vllm_inputs import Content, content_item, doc_token_cap, spread_content
from reranker.errors import CandidateError
from reranker.serving.calls import RerankCalls, empty_query
from reranker.types import Candidate, ImageInput, Query, RerankScores, TextInput, WireImage, rank_results

NonEmpty = Annotated[str, StringConstraints(min_length=1)]

# Documents per call, the same for every entry point (`folio serve`, `folio rerank-server`).
MAX_DOCUMENTS = 1024

# A Folio extension beside the contract: a response header counting the documents of the call whose
# key/value prefix the server had already computed (only the query's tokens ran), so a client, a
# pool of servers above all, learns the servers' cache hit rate. Other servers do not send it.
CACHE_HITS_HEADER = "Folio-Cache-Hits"


class TextDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class ImageDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: NonEmpty = Field(description="http(s) URL, data URL, or base64-encoded image bytes")


WireItem = str | TextDoc | ImageDoc | Content


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # tolerate fields other clients send (e.g. "rank_fields")

    model: str | None = None
    query: WireItem
    documents: list[WireItem] = Field(min_length=1, max_length=MAX_DOCUMENTS)
    top_n: int | None = Field(default=None, ge=1)
    # Jina's API returns the documents unless told not to.
    return_documents: bool = True
    max_tokens_per_doc: int | None = Field(
        default=None, ge=1, description="cut each text document to at most this many tokens"
    )
    # Long documents are always cut to the model's limit, never refused; accepted for clients that send it.
    truncation: bool | None = None
    truncate_prompt_tokens: int | None = Field(default=None, ge=-1, description="vLLM's name for the cap")

    @field_validator("documents", mode="before")
    @classmethod
    def _spread(cls, value: Any) -> Any:
        return spread_content(value)

    def doc_token_cap(self) -> int | None:
        """The tightest document cap asked for (None: the model's own limit)."""
        caps = [c for c in (self.max_tokens_per_doc, doc_token_cap(self.truncate_prompt_tokens)) if c]
        return min(caps) if caps else None


class Usage(BaseModel):
    total_tokens: int = 0


class ResultItem(BaseModel):
    index: int
    relevance_score: float
    document: TextDoc | ImageDoc | None = None

    @field_serializer("relevance_score")
    def _score_digits(self, score: float) -> float:
        """m0 scores in float32, so 9 significant digits say all there is. They also keep the JSON
        number at most 16 characters: ML Commons (OpenSearch's rerank processor) reads a longer
        number as a BigDecimal, which its Cohere post-processing cannot cast to a score."""
        return float(f"{score:.9g}")


class RerankResponse(BaseModel):
    model: str
    usage: Usage = Field(default_factory=Usage)
    results: list[ResultItem]


# --- wire -> Folio ---------------------------------------------------------------------------


def to_item(item: WireItem) -> Candidate:
    """A query or document as received: text, or an image that is never a path on this machine
    (CandidateError for content of several parts)."""
    if isinstance(item, str):
        return item
    if isinstance(item, TextDoc):
        return TextInput(item.text)
    if isinstance(item, Content):
        return content_item(item)
    return ImageInput(WireImage(item.image))


# --- Folio -> wire ---------------------------------------------------------------------------


def image_to_wire(image: Any) -> str:
    """Encode an image for the wire: URLs, data URLs and base64 strings pass through; a path,
    raw bytes or a PIL image become base64."""
    if isinstance(image, Path):
        return base64.b64encode(image.read_bytes()).decode("ascii")
    if isinstance(image, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(image)).decode("ascii")
    if isinstance(image, WireImage):
        return image.text
    if isinstance(image, str):
        if image.startswith(("http://", "https://", "data:")):
            return image
        # A short string naming an existing file is a path; anything else is taken as base64.
        if len(image) < 4096 and Path(image).is_file():
            return base64.b64encode(Path(image).read_bytes()).decode("ascii")
        return image
    if hasattr(image, "save"):  # a PIL image
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return base64.b64encode(buf.getvalue()).decode("ascii")
    raise TypeError(f"cannot send an image of type {type(image).__name__}")


def to_wire(item: Candidate) -> str | dict[str, str]:
    """A candidate or query as JSON: plain text stays a string; images become {"image": ...}."""
    if isinstance(item, str):
        return item
    if isinstance(item, TextInput):
        return {"text": item.text}
    if isinstance(item, ImageInput):
        return {"image": image_to_wire(item.image)}
    raise TypeError(f"not a candidate: {type(item).__name__}")


def echo_document(item: WireItem) -> TextDoc | ImageDoc:
    """The document as Jina echoes it back: always {"text"} or {"image"}, content parts included."""
    if isinstance(item, str):
        return TextDoc(text=item)
    if isinstance(item, Content):
        echoed = to_item(item)
        if isinstance(echoed, TextInput):
            return TextDoc(text=echoed.text)
        assert isinstance(echoed, ImageInput) and isinstance(echoed.image, WireImage)
        return ImageDoc(image=echoed.image.text)
    return item


def build_request_payload(
    query: Query,
    documents: Sequence[Candidate],
    *,
    model: str | None,
    top_n: int | None,
    return_documents: bool,
    max_tokens_per_doc: int | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "query": to_wire(query),
        "documents": [to_wire(d) for d in documents],
        "return_documents": return_documents,
    }
    if model:
        payload["model"] = model
    if top_n is not None:
        payload["top_n"] = top_n
    if max_tokens_per_doc is not None:
        payload["max_tokens_per_doc"] = max_tokens_per_doc
    return payload


def scores_from_response(response: RerankResponse, n_documents: int) -> RerankScores:
    """The scores of a Jina-shaped response in the order the documents were sent (a document the
    server left out, e.g. under its own top_n, gets a CandidateError)."""
    scores: list[float | CandidateError] = [
        CandidateError("the rerank server returned no score")
    ] * n_documents
    for item in response.results:
        if not 0 <= item.index < n_documents:
            raise ValueError(f"result index {item.index} is out of range for {n_documents} documents")
        scores[item.index] = float(item.relevance_score)
    return RerankScores(model=response.model, scores=scores, total_tokens=response.usage.total_tokens)


def response_from_scores(
    model: str,
    documents: Sequence[WireItem],
    scored: RerankScores,
    *,
    top_n: int | None,
    return_documents: bool,
) -> RerankResponse:
    """The Jina answer: ranked (ties keep the given order), cut to top_n, documents echoed if asked."""
    results = [
        ResultItem(
            index=r.index,
            relevance_score=r.relevance_score,
            document=echo_document(documents[r.index]) if return_documents else None,
        )
        for r in rank_results(scored.scores, top_n)
    ]
    return RerankResponse(model=model, usage=Usage(total_tokens=scored.total_tokens), results=results)


# --- the route -------------------------------------------------------------------------------


def add_routes(router: APIRouter, calls: RerankCalls) -> None:
    async def rerank(body: RerankRequest, response: Response) -> RerankResponse:
        engine = calls.engine()
        if empty_query(body.query):
            raise HTTPException(422, "query: the query text is empty")
        items = [("query", body.query), *((f"documents[{i}]", d) for i, d in enumerate(body.documents))]
        query, *documents = await calls.inputs(items, to_item)
        documents = await calls.documents(documents, "documents")
        pairs = [(query, d) for d in documents]
        scored = await calls.score(engine, pairs, "documents", response, body.doc_token_cap())
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
