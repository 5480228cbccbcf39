"""One search: first stage (filtered by the caller's groups inside the store query) → candidate
selection → rerank within a time budget → reordered, paged hits. The reranker failing or being
slow degrades to first-stage order; the store failing is a 503."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException

from docstore.protocol import Store, StoreUnavailable
from docstore.schema import Filters, Hit, SearchMode, SearchRequest
from docstore.snippets import make_snippet
from reranker.types import Candidate, ImageInput, Query, TextInput
from search_api.candidates import choose_candidate
from search_api.metrics import Metrics
from search_api.models import SearchHit, SearchResponse, Timings
from search_api.rerank_runner import RerankRunner, RerankSkipped
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
    note: str | None = None  # why the first stage had nothing to search, if so


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class EmbeddingCache:
    """A small LRU in front of the query embedder: popular and repeated queries (paging, the
    portal re-sending a query) skip the model. Thread-safe; a miss computes outside the lock."""

    def __init__(self, embed: Callable[[str], list[float]], size: int = 1024) -> None:
        self._embed = embed
        self._size = size
        self._items: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> list[float]:
        with self._lock:
            hit = self._items.get(text)
            if hit is not None:
                self._items.move_to_end(text)
                return hit
        vector = self._embed(text)
        with self._lock:
            self._items[text] = vector
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return vector


class SearchService:
    def __init__(
        self,
        store: Store,
        runner: RerankRunner,
        embed: Callable[[str], list[float]] | None,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.runner = runner
        self.embed = EmbeddingCache(embed) if embed is not None else None
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
        if hits and q.rerank and self.runner.enabled:
            try:
                ordered, modalities = self._rerank(q, hits, timings)
                reranked = True
            except RerankSkipped as skip:
                reason = str(skip)
                self.metrics.rerank_fallbacks.labels(_reason_label(reason)).inc()
        elif hits and not q.rerank:
            reason = "reranking was not requested"
        elif hits:
            reason = "no reranker is configured"
        page = ordered[q.offset : q.offset + q.top_n]
        out = [self._hit(h, score, modalities.get(h.page.page_id), q) for h, score in page]
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
                raise HTTPException(
                    status_code=400, detail=f"mode {q.mode.value!r} needs an embedder; use mode 'bm25'"
                )
            vector = self.embed(q.text)
        # Snippets are made below for the returned page of hits only, not for every candidate.
        request = SearchRequest(
            query=q.text, vector=vector, mode=q.mode, top_k=q.top_k, offset=0, filters=q.filters,
            snippets=False,
        )  # fmt: skip
        try:
            hits = self.store.search(request)
        except StoreUnavailable as exc:
            raise HTTPException(status_code=503, detail=f"the document store is unavailable: {exc}") from None
        timings.first_stage = _ms(t)
        return hits

    def _rerank(
        self, q: SearchInput, hits: list[Hit], timings: Timings
    ) -> tuple[list[tuple[Hit, float | None]], dict[str, str]]:
        """All candidates of the query in one reranker call, images and texts mixed."""
        t = time.perf_counter()
        candidates: list[Candidate] = []
        modalities: dict[str, str] = {}
        for hit in hits:
            candidate, modality = self._candidate(hit)
            candidates.append(candidate)
            modalities[hit.page.page_id] = modality
        timings.image_loading = _ms(t)
        query: Query = ImageInput(q.image) if q.image is not None else q.text
        budget_s = max(0.001, self.settings.rerank_budget_ms / 1000 - timings.image_loading / 1000)
        t = time.perf_counter()
        try:
            output = self.runner.rerank(query, candidates, budget_s)
        finally:
            timings.rerank = _ms(t)
        scores: dict[int, float] = {}
        for result in output.results:
            if 0 <= result.index < len(hits):
                # A candidate the model could not score sinks below every scored one.
                scores[result.index] = float("-inf") if result.error else float(result.relevance_score)
        if len(scores) != len(hits):
            raise RerankSkipped(f"the reranker returned {len(scores)} scores for {len(hits)} candidates")
        order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))
        ranked: list[tuple[Hit, float | None]] = [
            (hits[i], scores[i] if scores[i] != float("-inf") else 0.0) for i in order
        ]
        return ranked, modalities

    def _candidate(self, hit: Hit) -> tuple[Candidate, str]:
        page = hit.page
        modality = choose_candidate(page, self.settings.candidate_modality)
        if modality == "image":
            try:
                image = self.store.get_image(page.page_id, "image", groups=None)
            except StoreUnavailable as exc:
                raise HTTPException(
                    status_code=503, detail=f"the document store is unavailable: {exc}"
                ) from None
            if image:
                return ImageInput(image), "image"
        return TextInput(page.text or page.title or page.source), "text"

    def _hit(self, hit: Hit, rerank_score: float | None, modality: str | None, q: SearchInput) -> SearchHit:
        page = hit.page
        snippet = hit.snippet or (make_snippet(page.text, q.text) if page.text else "")
        pid = page.page_id
        return SearchHit(
            page_id=pid,
            doc_id=page.doc_id,
            source=page.source,
            page_number=page.page_number,
            page_count=page.page_count,
            title=page.title,
            collection=page.collection,
            language=page.language,
            snippet=snippet,
            modality="image"
            if (modality or choose_candidate(page, self.settings.candidate_modality)) == "image"
            else "text",
            score=rerank_score if rerank_score is not None else hit.score,
            rerank_score=rerank_score,
            first_stage_score=hit.score,
            first_stage_rank=hit.rank,
            image_url=f"/v1/pages/{pid}/image",
            thumbnail_url=f"/v1/pages/{pid}/thumbnail",
            document_url=f"/v1/documents/{page.doc_id}/file",
            kind=page.kind,
        )


def _reason_label(reason: str) -> str:
    for label in ("budget", "busy", "memory", "no reranker", "shutting down"):
        if label in reason:
            return label.replace(" ", "_")
    return "error"
