"""Page builders shared by the contract tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from docstore.protocol import Store
from docstore.schema import DocumentInfo, Page, SearchMode, SearchRequest, page_id

DIM = 8
MODES = [SearchMode.bm25, SearchMode.knn, SearchMode.hybrid]


def unit(*weights: float) -> list[float]:
    """A unit vector of DIM dims from its first components."""
    vec = np.zeros(DIM, dtype=np.float32)
    vec[: len(weights)] = weights
    return (vec / np.linalg.norm(vec)).tolist()


def page(
    doc: str,
    number: int = 1,
    text: str = "",
    *,
    title: str = "",
    collection: str = "default",
    language: str = "en",
    acl: Sequence[str] = (),
    vector: list[float] | None = None,
    image: bytes | None = None,
    thumbnail: bytes | None = None,
    word_boxes: bytes | None = None,
    page_count: int = 1,
) -> Page:
    return Page(
        page_id=page_id(doc, number),
        doc_id=doc,
        collection=collection,
        source=f"/corpus/{collection}/{doc}.pdf",
        content_hash=f"hash-{doc}",
        page_number=number,
        page_count=max(page_count, number),
        title=title,
        language=language,
        text=text,
        embedding=vector if vector is not None else unit(1.0, 0.1 * number),
        acl=list(acl),
        image=image,
        thumbnail=thumbnail,
        word_boxes=word_boxes,
    )


def add(store: Store, pages: Sequence[Page]) -> None:
    store.ensure(DIM)
    store.upsert_pages(pages)


def doc_info(doc: str, pages: int, *, collection: str = "default", acl: Sequence[str] = ()) -> DocumentInfo:
    return DocumentInfo(
        doc_id=doc,
        collection=collection,
        source=f"/corpus/{collection}/{doc}.pdf",
        title=doc.title(),
        content_hash=f"hash-{doc}",
        page_count=pages,
        pages_stored=0,
        complete=False,
        acl=list(acl),
    )


def ids(store: Store, query: str = "", mode: SearchMode = SearchMode.bm25, **kwargs: object) -> list[str]:
    request = SearchRequest.model_validate({"query": query, "mode": mode, **kwargs})
    return [hit.page.page_id for hit in store.search(request)]
