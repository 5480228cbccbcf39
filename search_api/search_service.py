"""One search: first stage (filtered by the caller's groups inside the store query) → candidate
selection → rerank within a time budget → reordered, paged hits → the returned hits' highlight
boxes (docstore.page_highlights). The reranker failing or being slow degrades to first-stage
order; the store failing is a 503."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cachetools

from docstore.candidates import choose_candidate, page_candidates
from docstore.page_highlights import IMAGE_QUERY, Highlights, read_highlights
from docstore.protocol import Store
from docstore.schema import Filters, Hit, Page, SearchMode, SearchRequest
from docstore.snippets import make_snippet
from reranker.errors import RerankError
from reranker.serving.engine import RerankEngine
from reranker.serving.page_refs import rerank_input
from reranker.types import Candidate, ImageInput, Query, rank_results
from search_api.metrics import Metrics
from search_api.models import SearchHit, SearchResponse, Timings, page_fields
from search_api.service_errors import InvalidRequest
from search_api.settings import Settings


@dataclass
class SearchInput:
    text: str  # what the first stage searches (the query text, or a query image's OCR text)
    image: bytes | None  # a query image: the reranker scores against it
    mode: SearchMode
    top_k: int
    top_n: int
    offset: int
    filters: Filters
    rerank: bool
    feedback: bool = False  # BM25 with pseudo-relevance feedback (docstore.feedback)
    note: str | None = None  # why the first stage had nothing to search, if so
    text_from_image: bool = False  # `text` was read from the query image: no typed words to mark


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def cached_embedder(embed: Callable[[str], list[float]], size: int = 1024) -> Callable[[str], list[float]]:
    """The query embedder behind a small LRU: popular and repeated queries (paging, the portal
    re-sending a query) skip the model. Thread-safe; a miss computes outside the lock."""
    return cachetools.cached(cachetools.LRUCache(maxsize=size), lock=threading.Lock())(embed)


class SearchService:
    def __init__(
        self,
        store: Store,
        engine: RerankEngine | None,
        embed: Callable[[str], list[float]] | None,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.engine = engine
        self.embed = cached_embedder(embed) if embed is not None else None
        self.settings = settings
        self.metrics = metrics

    def search(self, q: SearchInput) -> SearchResponse:
        t0 = time.perf_counter()
        timings = Timings()
        hits = self._first_stage(q, timings) if q.text.strip() else []
        ordered: list[tuple[Hit, float | None]] = [(h, None) for h in hits]
        modalities: dict[str, str] = {}
        reason: str | None = q.note
        reranked = False
        if hits and q.rerank and self.engine is not None:
            try:
                ordered, modalities = self._rerank(self.engine, q, hits, timings)
                reranked = True
            except RerankError as exc:  # degrade to first-stage order, and say why
                reason = str(exc)
                self.metrics.rerank_fallbacks.labels(exc.reason).inc()
        elif hits and not q.rerank:
            reason = "reranking was not requested"
        elif hits:
            reason = "no reranker is configured"
        page = ordered[q.offset : q.offset + q.top_n]
        marks = self._highlights(q, [h.page for h, _ in page], timings)
        out = [
            self._hit(h, score, modalities.get(h.page.page_id), q, marks[h.page.page_id]) for h, score in page
        ]
        timings.total = _ms(t0)
        for stage, value in timings.model_dump().items():
            self.metrics.stage_seconds.labels(stage).observe(value / 1000)
        return SearchResponse(
            query=q.text,
            mode=q.mode.value,
            reranked=reranked,
            rerank_reason=None if reranked else reason,
            total=len(hits),
            offset=q.offset,
            top_n=q.top_n,
            hits=out,
            timings_ms=timings,
        )

    def _first_stage(self, q: SearchInput, timings: Timings) -> list[Hit]:
        t = time.perf_counter()
        vector: list[float] | None = None
        if q.mode in (SearchMode.knn, SearchMode.hybrid):
            if self.embed is None:
                raise InvalidRequest(f"mode {q.mode.value!r} needs an embedder; use mode 'bm25'")
            vector = self.embed(q.text)
        # Snippets are made below for the returned page of hits only, not for every candidate.
        request = SearchRequest(
            query=q.text, vector=vector, mode=q.mode, top_k=q.top_k, offset=0, filters=q.filters,
            snippets=False, feedback=q.feedback,
        )  # fmt: skip
        hits = self.store.search(request)  # StoreUnavailable: 503, mapped in search_api.errors
        timings.first_stage = _ms(t)
        return hits

    def _rerank(
        self, engine: RerankEngine, q: SearchInput, hits: list[Hit], timings: Timings
    ) -> tuple[list[tuple[Hit, float | None]], dict[str, str]]:
        """All candidates of the query in one reranker call, images and texts mixed; their images
        read from the store in one call."""
        t = time.perf_counter()
        pages = page_candidates(self.store, [h.page for h in hits], self.settings.candidate_modality)
        candidates: list[Candidate] = [rerank_input(c) for c in pages]
        modalities: dict[str, str] = {c.page.page_id: c.modality for c in pages}
        timings.image_loading = _ms(t)
        query: Query = ImageInput(q.image) if q.image is not None else q.text
        self.metrics.rerank_batch_size.observe(len(candidates))
        budget_s = max(0.001, self.settings.rerank_budget_ms / 1000 - timings.image_loading / 1000)
        t = time.perf_counter()
        try:
            scored = engine.rerank(query, candidates, deadline_s=budget_s)
        finally:
            timings.rerank = _ms(t)
        # The engine's own measure: waiting in its queue, then the scorer's batch this call ran in.
        timings.rerank_queue = round(scored.timings_ms.get("queue", 0.0), 3)
        timings.rerank_inference = round(scored.timings_ms.get("inference", 0.0), 3)
        # A candidate the model could not score sinks below every scored one (rank_results puts it last).
        ranked: list[tuple[Hit, float | None]] = [
            (hits[r.index], r.relevance_score) for r in rank_results(scored.scores)
        ]
        return ranked, modalities

    def _highlights(self, q: SearchInput, pages: list[Page], timings: Timings) -> dict[str, Highlights]:
        """The returned hits' highlights: their text matched here, the word positions of those
        that match read in one store call with the caller's groups."""
        if q.text_from_image:
            return {p.page_id: IMAGE_QUERY for p in pages}
        t = time.perf_counter()
        found = read_highlights(self.store, pages, q.text, q.filters.groups)
        timings.highlights = _ms(t)
        return found

    def _hit(
        self, hit: Hit, rerank_score: float | None, modality: str | None, q: SearchInput, marks: Highlights
    ) -> SearchHit:
        page = hit.page
        snippet = hit.snippet or (make_snippet(page.text, q.text) if page.text else "")
        return SearchHit(
            **page_fields(page, marks),
            snippet=snippet,
            modality="image"
            if (modality or choose_candidate(page, self.settings.candidate_modality)) == "image"
            else "text",
            score=rerank_score if rerank_score is not None else hit.score,
            rerank_score=rerank_score,
            first_stage_score=hit.score,
            first_stage_rank=hit.rank,
        )
