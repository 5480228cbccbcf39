"""vLLM's score and rerank shapes as pydantic models, and conversions between them and Folio's
reranker types. Teams that serve m0 with vLLM send these; Folio answers them unchanged.

Score (`POST /score`, `/v1/score`):
  {"model"?, "text_1": str | [str | content] | content, "text_2": str | [str | content] | content,
   "truncate_prompt_tokens"?}
  -> {"id", "object": "list", "created", "model", "data": [{"index", "object": "score", "score"}],
      "usage": {"prompt_tokens", "total_tokens", "completion_tokens"}}
  text_1 holds the queries, text_2 the documents: one query for every document (1:N) or one query
  per document (N:N), in vLLM's order. Newer vLLM names (`data_1`/`data_2`, `queries`/`documents`)
  are accepted too.
Rerank (`/v1/rerank`, Jina's contract): documents may also be given as content.

`content` is {"content": [part, ...]}, a part {"type": "image_url", "image_url": {"url": ...}} or
{"type": "text", "text": ...}. A bare {"content": [...]} in place of a list holds one document per
part (as vLLM's own m0 example sends pages); inside a list, each {"content": [part]} is one
document. m0 scores one text or one image per document, so a document of several parts is refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from reranker.errors import CandidateError
from reranker.types import Candidate, ImageInput, RerankScores, TextInput, WireImage

NonEmpty = Annotated[str, StringConstraints(min_length=1)]

# Items per side of a score call (the same bound as Jina's documents per call).
MAX_ITEMS = 1024


class ImageUrl(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI's "detail" has no meaning here
    url: NonEmpty = Field(description="data URL, base64, or an http(s) URL where the server allows URLs")


class ImageUrlPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["image_url"]
    image_url: ImageUrl


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


ContentPart = Annotated[ImageUrlPart | TextPart, Field(discriminator="type")]


class Content(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: list[ContentPart] = Field(min_length=1)


def spread_content(value: Any) -> Any:
    """A bare {"content": [a, b]} in place of a list: one item per part. Anything else is left to
    validation."""
    if isinstance(value, dict) and set(value) == {"content"} and isinstance(value["content"], list):
        return [{"content": [part]} for part in value["content"]]
    return value


def part_item(part: ImageUrlPart | TextPart) -> Candidate:
    if isinstance(part, TextPart):
        return TextInput(part.text)
    return ImageInput(WireImage(part.image_url.url))


def content_item(item: Content) -> Candidate:
    """One query or document given as content (raises CandidateError for several parts)."""
    if len(item.content) != 1:
        raise CandidateError(
            f"has {len(item.content)} content parts; m0 scores one text or one image per item"
        )
    return part_item(item.content[0])


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


def doc_token_cap(truncate_prompt_tokens: int | None) -> int | None:
    """vLLM's `truncate_prompt_tokens` as a cap on each document (None, -1, 0: no cap of its own)."""
    return truncate_prompt_tokens if truncate_prompt_tokens and truncate_prompt_tokens > 0 else None


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
