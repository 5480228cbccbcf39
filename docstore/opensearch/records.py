"""Conversions between Folio records and OpenSearch documents (pure; no I/O).

A page becomes one document in the pages index (everything but image bytes and word boxes) and,
when it has an image, thumbnail or word boxes, one in the images index (base64, with the page's
acl so an image is never served to someone who may not see its page)."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from docstore.analysis import stem_text
from docstore.candidates import page_ref
from docstore.opensearch.queries import REF_FIELD, STEM_FIELD, VECTOR_COPY, WORD_BOXES_FIELD
from docstore.schema import IMAGE_KINDS, Hit, Page, SearchRequest
from docstore.snippets import make_snippet

# each stored in its own field of the images index, base64
MEDIA_FIELDS: tuple[str, ...] = (*IMAGE_KINDS, WORD_BOXES_FIELD)
_HEAVY = frozenset({"embedding", VECTOR_COPY, STEM_FIELD, REF_FIELD})  # never parsed into a hit's page


def page_actions(
    pages: Sequence[Page], pages_index: str, images_index: str | None, vector_copy: bool = True
) -> Iterator[dict[str, Any]]:
    """Bulk actions writing `pages` by page_id; `images_index` None when no images index exists
    yet and none of the pages carries an image or word boxes (nothing to write or remove there).
    `vector_copy` False for a pages index from before the stored vector copy (strict mapping)."""
    for page in pages:
        doc = page.model_dump(exclude={*MEDIA_FIELDS, "embedding"})
        doc[STEM_FIELD] = stem_text(page.title + "\n" + page.text, page.language)
        doc[REF_FIELD] = page_ref(page.page_id)
        if page.embedding is not None:
            doc["embedding"] = page.embedding
            if vector_copy:
                doc[VECTOR_COPY] = base64.b64encode(
                    np.asarray(page.embedding, dtype="<f4").tobytes()
                ).decode()
        yield {"_index": pages_index, "_id": page.page_id, "_source": doc}
        if images_index is None:
            continue
        if all(getattr(page, field) is None for field in MEDIA_FIELDS):
            # A re-written page without them must not keep the old ones.
            yield {"_op_type": "delete", "_index": images_index, "_id": page.page_id}
            continue
        record: dict[str, Any] = {"page_id": page.page_id, "doc_id": page.doc_id, "acl": page.acl}
        for field in MEDIA_FIELDS:
            data: bytes | None = getattr(page, field)
            if data is not None:
                record[field] = base64.b64encode(data).decode("ascii")
        yield {"_index": images_index, "_id": page.page_id, "_source": record}


def page_from_source(source: dict[str, Any]) -> Page:
    """A Page from a pages-index _source, the embedding decoded from its stored copy (or read
    from the JSON vector of an index that predates the copy)."""
    fields = {k: v for k, v in source.items() if k not in (VECTOR_COPY, STEM_FIELD, REF_FIELD)}
    copy = source.get(VECTOR_COPY)
    if copy is not None:
        fields["embedding"] = np.frombuffer(base64.b64decode(copy), dtype="<f4").tolist()
    return Page(**fields)


def images_from_source(source: dict[str, Any]) -> dict[str, bytes]:
    """The image, thumbnail and word boxes an images-index _source holds, by Page field."""
    return {f: base64.b64decode(source[f]) for f in MEDIA_FIELDS if source.get(f) is not None}


def light_page(source: dict[str, Any]) -> Page:
    """A Page from a pages-index _source without its embedding, as hits carry it."""
    return Page(**{k: v for k, v in source.items() if k not in _HEAVY})


def hits_from(scored: Sequence[tuple[dict[str, Any], float]], request: SearchRequest) -> list[Hit]:
    """Hits from (page _source, score) pairs, best first, without the embedding (hits stay
    light); snippets only when the request wants them (making one scans the page text)."""
    hits: list[Hit] = []
    for source, score in scored:
        page = light_page(source)
        snippet = make_snippet(page.text, request.query) if request.snippets and page.text else ""
        hits.append(Hit(page=page, score=score, rank=request.offset + len(hits) + 1, snippet=snippet))
    return hits
