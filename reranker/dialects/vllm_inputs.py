"""The input forms vLLM's clients send, accepted by the vLLM score route and by the Jina route (where
vLLM's rerank requests arrive): content parts for a query or document, and `truncate_prompt_tokens`.

`content` is {"content": [part, ...]}, a part {"type": "image_url", "image_url": {"url": ...}} or
{"type": "text", "text": ...}. A bare {"content": [...]} in place of a list holds one document per
part (as vLLM's own m0 example sends pages); inside a list, each {"content": [part]} is one
document. m0 scores one text or one image per document, so a document of several parts is refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reranker.errors import CandidateError
from reranker.types import Candidate, ImageInput, TextInput, WireImage

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


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


def doc_token_cap(truncate_prompt_tokens: int | None) -> int | None:
    """vLLM's `truncate_prompt_tokens` as a cap on each document (None, -1, 0: no cap of its own)."""
    return truncate_prompt_tokens if truncate_prompt_tokens and truncate_prompt_tokens > 0 else None
