"""Request and response shapes of the REST API (see the OpenAPI document at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from docstore.highlights import HighlightBox
from docstore.page_highlights import Highlights
from docstore.schema import MAX_OFFSET, MAX_TOP_K, MAX_TOP_N, Page, SearchMode, check_feedback_mode


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(default=None, max_length=4096, description="the text query")
    image: str | None = Field(
        default=None,
        description="a query image: base64, a data URL, or an http(s) URL where the server allows them",
    )
    mode: SearchMode = SearchMode.hybrid
    top_k: int = Field(default=50, ge=1, le=MAX_TOP_K, description="first-stage candidates to rerank")
    top_n: int = Field(default=10, ge=1, le=MAX_TOP_N, description="hits returned")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="paging over the reranked list")
    collection: str | None = None
    doc_id: str | None = None
    language: str | None = None
    rerank: bool = True
    feedback: bool = Field(
        default=False,
        description="bm25 mode only: expand the query from its best pages (pseudo-relevance feedback):"
        " finds more pages that use other words for the same thing, at the cost of a second search",
    )

    @model_validator(mode="after")
    def _feedback_in_bm25(self) -> SearchBody:
        check_feedback_mode(self.mode, self.feedback)
        return self


class PageView(BaseModel):
    """A page as the API shows it: where it comes from, its pictures, and where the query's words
    are on it."""

    page_id: str
    doc_id: str
    source: str
    page_number: int
    page_count: int
    title: str
    collection: str
    language: str
    kind: Literal["pdf", "text"]
    image_url: str
    thumbnail_url: str
    document_url: str
    highlights: list[HighlightBox] | None = Field(
        default=None,
        description="boxes of the page's words that match the query, as fractions (0-1) of the page"
        " image's width and height, origin top-left; null when the page cannot have any",
    )
    highlights_note: str | None = Field(
        default=None, description="why there are no highlights; null when there are"
    )


class SearchHit(PageView):
    snippet: str
    modality: Literal["image", "text"]
    score: float
    rerank_score: float | None
    first_stage_score: float
    first_stage_rank: int


def page_fields(page: Page, found: Highlights) -> dict[str, Any]:
    """The PageView fields of a stored page (a hit adds its scores)."""
    pid = page.page_id
    return {
        "page_id": pid,
        "doc_id": page.doc_id,
        "source": page.source,
        "page_number": page.page_number,
        "page_count": page.page_count,
        "title": page.title,
        "collection": page.collection,
        "language": page.language,
        "kind": page.kind,
        "image_url": f"/v1/pages/{pid}/image",
        "thumbnail_url": f"/v1/pages/{pid}/thumbnail",
        "document_url": f"/v1/documents/{page.doc_id}/file",
        "highlights": found.boxes,
        "highlights_note": found.note,
    }


class Timings(BaseModel):
    first_stage: float = 0.0
    image_loading: float = 0.0
    rerank: float = 0.0  # the whole rerank call, as the search waited for it
    rerank_queue: float = 0.0  # of which in the rerank engine's queue (the engine's measure)
    rerank_inference: float = 0.0  # and in the scorer: the batch the call was scored in
    highlights: float = 0.0  # reading the returned hits' word positions and matching them
    total: float = 0.0


class SearchResponse(BaseModel):
    query: str
    mode: str
    reranked: bool
    rerank_reason: str | None
    total: int
    offset: int
    top_n: int
    hits: list[SearchHit]
    timings_ms: Timings


class MeResponse(BaseModel):
    anonymous: bool
    key_id: str | None
    groups: list[str]
    admin: bool
    name: str | None = None  # the person's name, from the identity provider's token or session


class AuthConfig(BaseModel):
    oidc: bool  # whether the portal offers sign-in with the identity provider
    provider_name: str | None = None


class KeySignIn(BaseModel):
    key: str = Field(min_length=1, max_length=200)


class DocumentItem(BaseModel):
    doc_id: str
    collection: str
    source: str
    title: str
    page_count: int
    pages_stored: int
    complete: bool


class DocumentsResponse(BaseModel):
    documents: list[DocumentItem]


class PageRef(BaseModel):
    page_id: str
    page_number: int
    thumbnail_url: str
    image_url: str


class DocumentPagesResponse(BaseModel):
    doc_id: str
    pages: list[PageRef]
    document_url: str | None = Field(
        default=None,
        description="the original file (GET /v1/documents/{id}/file); null when it is not stored",
    )


class JobAccepted(BaseModel):
    job_id: str
    status_url: str


class JobFile(BaseModel):
    name: str
    state: Literal["queued", "running", "indexed", "skipped", "failed"] = "queued"
    pages: int = 0
    error: str | None = None


class JobStatus(BaseModel):
    job_id: str
    state: Literal["queued", "running", "done", "failed"] = "queued"
    files: list[JobFile]
    error: str | None = None  # why a job stopped before it finished (e.g. its replica stopped)


class DeleteResponse(BaseModel):
    deleted_pages: int


class ErrorResponse(BaseModel):
    detail: str
