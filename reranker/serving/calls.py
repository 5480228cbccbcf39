"""What every rerank route does between parsing its dialect and shaping its answer: find the engine
(503 while there is none), turn wire items into candidates and read their images (422/413 naming
the bad ones), score through the engine, map its failures and report its timings. Routes of every
dialect go through this, so they answer the same scores, limits, errors and timing headers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import HTTPException, Response
from fastapi.concurrency import run_in_threadpool

from reranker.errors import CandidateError, RerankError
from reranker.serving.engine import RerankEngine
from reranker.serving.http_errors import rerank_failed, unscorable
from reranker.types import Candidate, ImageInput, Query, RerankScores

# Reads a request's image before the engine sees it (e.g. with the API's own limits); raises
# CandidateError. Without one, images go to the scorer as they came.
ImageReader = Callable[[ImageInput], Candidate]

# Replaces a request's documents that refer to stored pages by those pages, in one store read
# (see reranker.serving.page_refs); a reference to no page becomes its CandidateError. Raises
# RerankError when the store cannot be read.
DocumentResolver = Callable[[Sequence[Candidate]], list[Candidate | CandidateError]]

W = TypeVar("W")

# Milliseconds the call waited for the scorer, then spent in it (the whole batch it was scored in),
# as measured by the engine; the names and meaning of Hugging Face TEI's headers.
TIMING_HEADERS = {"queue": "x-queue-time", "inference": "x-inference-time"}


class RerankCalls:
    def __init__(
        self,
        get_engine: Callable[[], RerankEngine | None],
        read_image: ImageReader | None,
        resolve_documents: DocumentResolver | None = None,
    ) -> None:
        self._get_engine = get_engine
        self._read_image = read_image
        self._resolve_documents = resolve_documents

    def engine(self) -> RerankEngine:
        engine = self._get_engine()
        if engine is None:
            raise HTTPException(
                503, "the reranker is not available (loading, or none is configured)", {"Retry-After": "5"}
            )
        return engine

    async def inputs(
        self, items: Sequence[tuple[str, W]], convert: Callable[[W], Candidate]
    ) -> list[Candidate]:
        """The items as candidates, in order, as (where, wire item): converted, then their images
        read (an image reader may fetch a URL: off the event loop)."""
        if self._read_image is None:
            return self._inputs(items, convert)
        return await run_in_threadpool(self._inputs, items, convert)

    def _inputs(self, items: Sequence[tuple[str, W]], convert: Callable[[W], Candidate]) -> list[Candidate]:
        converted: list[Candidate] = []
        errors: list[tuple[str, CandidateError]] = []
        for where, item in items:
            try:
                candidate = convert(item)
                if self._read_image is not None and isinstance(candidate, ImageInput):
                    candidate = self._read_image(candidate)
            except CandidateError as exc:
                errors.append((where, exc))
                continue
            converted.append(candidate)
        if errors:
            raise unscorable(errors)
        return converted

    async def documents(self, documents: list[Candidate], where: str) -> list[Candidate]:
        """The documents with page references resolved (as they came without a resolver); a bad
        reference is a 422 naming it as `where[i]`, an unreadable store a 503."""
        if self._resolve_documents is None:
            return documents
        try:
            resolved = await run_in_threadpool(self._resolve_documents, documents)
        except RerankError as exc:
            raise rerank_failed(exc) from None
        if errors := [(f"{where}[{i}]", d) for i, d in enumerate(resolved) if isinstance(d, CandidateError)]:
            raise unscorable(errors)
        return [d for d in resolved if not isinstance(d, CandidateError)]

    async def score(
        self,
        engine: RerankEngine,
        pairs: Sequence[tuple[Query, Candidate]],
        where: str,
        response: Response,
        max_doc_tokens: int | None = None,
    ) -> RerankScores:
        """The scores of `pairs` in order, their timings set as `response`'s headers; a pair that
        cannot be scored is a 422 (413) naming it as `where[i]`."""
        try:
            scored = await engine.arerank_pairs(pairs, max_doc_tokens=max_doc_tokens)
        except RerankError as exc:
            raise rerank_failed(exc) from None
        if errors := scored.errors:
            raise unscorable([(f"{where}[{i}]", e) for i, e in errors])
        for timing, header in TIMING_HEADERS.items():
            if (ms := scored.timings_ms.get(timing)) is not None:
                response.headers[header] = f"{ms:.3f}"
        return scored


def empty_query(query: Any) -> bool:
    return isinstance(query, str) and not query.strip()
