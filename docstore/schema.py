"""The page record and the request/response shapes shared by both store backends."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class SearchMode(StrEnum):
    bm25 = "bm25"
    knn = "knn"
    hybrid = "hybrid"


def page_id(doc_id: str, page_number: int) -> str:
    """The id of a document's page, stable across re-indexing (page numbers start at 1)."""
    return f"{doc_id}:{page_number}"


class Page(BaseModel):
    """One searchable unit: a PDF page (image + text) or a whole text document."""

    page_id: str  # page_id(doc_id, page_number)
    doc_id: str  # derived from collection + source path
    collection: str = "default"
    source: str  # the file path as indexed
    content_hash: str  # sha256 of the source file
    page_number: int = Field(ge=1)  # 1-based
    page_count: int = Field(ge=1)
    kind: Literal["pdf", "text"] = "pdf"
    title: str = ""
    language: str = ""
    text: str = ""
    ocr: bool = False  # text came from OCR
    has_figures: bool = False  # page carries images/drawings (the reranker's "auto" modality uses it)
    image: bytes | None = None  # rendered page (PNG/JPEG), within m0's pixel budget
    thumbnail: bytes | None = None  # small JPEG for result grids
    # where the text's words are on the image (docstore.word_boxes); None: not kept (a page indexed
    # before they were, a text document, a page without words). Hits leave it out.
    word_boxes: bytes | None = None
    embedding: list[float] | None = None
    acl: list[str] = Field(default_factory=list)  # groups allowed to see the page; empty = public


class Filters(BaseModel):
    """Applied inside the store query, never after it."""

    collection: str | None = None
    doc_id: str | None = None
    language: str | None = None
    # None: no ACL restriction (admin / anonymous quick start).
    # A list: only pages whose acl is empty (public) or shares a group with it.
    groups: list[str] | None = None


# How deep and how far a search may go, the same for every entry point (the API's JSON and form
# bodies, `folio search`); the first-stage depth is also how many candidates the reranker scores.
IMAGE_KINDS = ("image", "thumbnail")  # a page's stored pictures (Page.image, Page.thumbnail)


def check_image_kind(kind: str) -> None:
    """ValueError unless `kind` names one of a page's stored pictures (stores put it in queries)."""
    if kind not in IMAGE_KINDS:
        raise ValueError(f"kind must be 'image' or 'thumbnail', not {kind!r}")


MAX_TOP_K = 200
MAX_TOP_N = 100
MAX_OFFSET = 10_000


class SearchRequest(BaseModel):
    query: str = ""
    vector: list[float] | None = None  # query embedding, needed by knn and hybrid
    mode: SearchMode = SearchMode.hybrid
    top_k: int = Field(default=50, ge=1, le=MAX_TOP_K)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    filters: Filters = Field(default_factory=Filters)
    # False: hits come without snippets (a caller that shows only some hits makes its own)
    snippets: bool = True
    # BM25 mode only: expand the query from its best pages (docstore.feedback), a second search
    feedback: bool = False

    @model_validator(mode="after")
    def _feedback_in_bm25(self) -> SearchRequest:
        check_feedback_mode(self.mode, self.feedback)
        return self


def check_feedback_mode(mode: SearchMode, feedback: bool) -> None:
    """Feedback expands BM25 queries only (docstore.feedback): ValueError for any other mode (in a
    model validator, a validation error; the API's SearchBody checks the same)."""
    if feedback and mode != SearchMode.bm25:
        raise ValueError(f"feedback applies to the bm25 mode, not {mode.value}")


class Hit(BaseModel):
    page: Page  # image, thumbnail and embedding are left out (None) in hits
    score: float  # first-stage score (BM25, cosine, or fused RRF)
    rank: int  # 1-based first-stage rank
    snippet: str = ""  # text excerpt, matched terms wrapped in <mark>…</mark>


class DocumentInfo(BaseModel):
    doc_id: str
    collection: str
    source: str
    title: str = ""
    content_hash: str
    page_count: int
    pages_stored: int
    complete: bool  # every page written (resumable indexing marks this last)
    acl: list[str] = Field(default_factory=list)


class FileFailure(BaseModel):
    """A file that could not be opened for indexing, remembered with the size and modification time
    it had then, so that an unchanged copy is skipped with the same reason instead of probed again."""

    doc_id: str
    source: str
    size: int = Field(ge=0)
    mtime_ns: int
    reason: str
