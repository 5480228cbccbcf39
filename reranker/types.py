"""Inputs and outputs shared by every reranker backend, and the `Scorer` protocol (no torch here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from reranker.errors import CandidateError


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


def rank_results(
    scores: Sequence[float | CandidateError],
    top_n: int | None = None,
    documents: Sequence[Candidate] | None = None,
) -> list[RerankResult]:
    """Best first, ties in the order given; candidates that could not be scored last (score 0.0,
    with their error). `documents` are attached to the results when given."""
    results = [
        RerankResult(
            index=i,
            relevance_score=0.0 if isinstance(s, CandidateError) else float(s),
            document=documents[i] if documents is not None else None,
            error=str(s) if isinstance(s, CandidateError) else None,
        )
        for i, s in enumerate(scores)
    ]
    results.sort(key=lambda r: (r.error is not None, -r.relevance_score, r.index))
    return results if top_n is None else results[: max(0, top_n)]


@dataclass
class RerankScores:
    """What a scorer (and the engine) returns for a list of pairs: one score, or the error that pair
    failed with, per pair in the order given; the text + visual tokens each pair cost (None when
    the backend reports only a total); timings of the stages; and the pairs whose document
    key/value prefix was already computed, so only the query's tokens ran (per pair, or None when
    the backend reports only a count: a rerank server's `Folio-Cache-Hits`; 0 when it says nothing)."""

    model: str
    scores: list[float | CandidateError]
    pair_tokens: list[int] | None = None
    total_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    cached: list[bool] | None = None
    cache_hits: int = 0

    def __post_init__(self) -> None:
        if self.pair_tokens is not None:
            self.total_tokens = sum(self.pair_tokens)
        if self.cached is not None:
            self.cache_hits = sum(self.cached)

    def slice(self, start: int, end: int) -> RerankScores:
        """The part of a batch that belongs to one call (pairs start..end)."""
        whole = (start, end) == (0, len(self.scores))
        tokens = self.pair_tokens[start:end] if self.pair_tokens is not None else None
        total = self.total_tokens if tokens is None and whole else 0
        cached = self.cached[start:end] if self.cached is not None else None
        hits = self.cache_hits if cached is None and whole else 0
        return RerankScores(
            self.model, self.scores[start:end], tokens, total, dict(self.timings_ms), cached, hits
        )

    @property
    def errors(self) -> list[tuple[int, CandidateError]]:
        return [(i, s) for i, s in enumerate(self.scores) if isinstance(s, CandidateError)]

    def output(self, top_n: int | None = None, documents: Sequence[Candidate] | None = None) -> RerankOutput:
        return RerankOutput(
            self.model, rank_results(self.scores, top_n, documents), self.total_tokens, self.timings_ms
        )


@dataclass
class RerankOutput:
    """A ranked answer: results best first (see `rank_results`), cut to top_n."""

    model: str
    results: list[RerankResult]
    total_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Scorer(Protocol):
    """What the engine drives: the local m0 model, or an HTTP client for a rerank service."""

    @property
    def model_name(self) -> str: ...

    # True: one model on one device, never called concurrently; the engine gathers the pairs of
    # concurrent calls into its batches. False: calls may overlap (each is one HTTP request).
    shares_batches: bool

    def score_pairs(
        self, pairs: Sequence[tuple[Query, Candidate]], max_doc_tokens: int | None = None
    ) -> RerankScores:
        """Scores in the order given; a pair that cannot be scored gets its CandidateError. Raises
        when the whole call fails (unreachable, out of memory). `max_doc_tokens` cuts every text
        document of the call to at most that many tokens (None: the scorer's own limit); a long
        document is cut, never refused, and the tokens reported are those scored."""

    def ping(self) -> bool: ...

    def close(self) -> None: ...
