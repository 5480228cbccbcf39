"""Inputs and outputs shared by every reranker backend (no torch here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class TextInput:
    text: str


@dataclass(frozen=True)
class WireImage:
    """An image string received over the network: an http(s) URL, a data URL or base64, as the Jina
    contract has it. Unlike a plain string it never names a file, so a client cannot make a server
    read its local files."""

    text: str


@dataclass(frozen=True)
class ImageInput:
    """An image as a path, raw bytes, a PIL image, a base64 string / data URL, an http(s) URL, or a
    WireImage."""

    image: Any


# A plain str is a text candidate / query.
Candidate = str | TextInput | ImageInput
Query = str | TextInput | ImageInput


@dataclass
class RerankResult:
    index: int  # position of the candidate in the order given
    relevance_score: float
    document: Candidate | None = None
    error: str | None = None  # set when this candidate could not be scored (score is then 0.0)


@dataclass
class RerankOutput:
    model: str
    results: list[RerankResult]  # sorted by relevance_score, descending; failed ones last
    total_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


class RerankError(RuntimeError):
    """The backend failed as a whole (unreachable, timed out, out of memory)."""


@runtime_checkable
class RerankBackend(Protocol):
    name: str

    def rerank(
        self,
        query: Query,
        documents: Sequence[Candidate],
        top_n: int | None = None,
        return_documents: bool = False,
    ) -> RerankOutput: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
