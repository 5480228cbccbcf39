"""Pure helpers of the SQLite store: filter clauses and row ↔ record conversion."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from docstore.schema import DocumentInfo, Filters, Hit, Page


def visibility_clause(groups: list[str] | None, alias: str = "p") -> tuple[str, list[Any]]:
    """Public pages, or pages sharing a group with `groups`; None means no restriction."""
    if groups is None:
        return "1", []
    if not groups:
        return f"{alias}.public = 1", []
    marks = ",".join("?" * len(groups))
    return (
        f"({alias}.public = 1 OR EXISTS (SELECT 1 FROM json_each({alias}.acl) WHERE json_each.value IN ({marks})))",
        list(groups),
    )


def filter_clause(filters: Filters | None, alias: str = "p", language: bool = True) -> tuple[str, list[Any]]:
    filters = filters or Filters()
    clauses: list[str] = []
    params: list[Any] = []
    names = ["collection", "doc_id"] + (["language"] if language else [])
    for name in names:
        value = getattr(filters, name)
        if value is not None:
            clauses.append(f"{alias}.{name} = ?")
            params.append(value)
    acl_sql, acl_params = visibility_clause(filters.groups, alias)
    clauses.append(acl_sql)
    params += acl_params
    return " AND ".join(clauses), params


def page_values(page: Page, dim: int | None) -> tuple[tuple[Any, ...], bytes | None]:
    """(pages row in PAGE_COLUMNS order, embedding blob or None)."""
    blob = None
    if page.embedding is not None:
        if dim is not None and len(page.embedding) != dim:
            raise ValueError(
                f"page {page.page_id}: embedding has {len(page.embedding)} dims, the store holds {dim}"
            )
        blob = np.asarray(page.embedding, dtype=np.float32).tobytes()
    row = (
        page.page_id, page.doc_id, page.collection, page.language, int(not page.acl), json.dumps(page.acl),
        page.source, page.content_hash, page.page_number, page.page_count, page.kind, page.title,
        int(page.ocr), int(page.has_figures), page.text,
    )  # fmt: skip
    return row, blob


def page_from_row(row: sqlite3.Row, with_media: bool = False) -> Page:
    keys = row.keys()
    embedding = None
    if with_media and "embedding" in keys and row["embedding"] is not None:
        embedding = np.frombuffer(row["embedding"], dtype=np.float32).tolist()
    return Page(
        page_id=row["page_id"], doc_id=row["doc_id"], collection=row["collection"], source=row["source"],
        content_hash=row["content_hash"], page_number=row["page_number"], page_count=row["page_count"],
        kind=row["kind"], title=row["title"], language=row["language"], text=row["text"], ocr=bool(row["ocr"]),
        has_figures=bool(row["has_figures"]), acl=json.loads(row["acl"]), embedding=embedding,
        image=row["image"] if with_media and "image" in keys else None,
        thumbnail=row["thumbnail"] if with_media and "thumbnail" in keys else None,
        word_boxes=row["word_boxes"] if "word_boxes" in keys else None,
    )  # fmt: skip


HIT_COLUMNS = (
    "page_id, doc_id, collection, source, content_hash, page_number, page_count, kind, title, language,"
    " text, ocr, has_figures, acl"
)


def page_from_tuple(row: tuple[Any, ...]) -> Page:
    """A hit's page from `SELECT rowid, {HIT_COLUMNS}`, built without validation (our own rows)."""
    return trusted(Page, {
        "page_id": row[1], "doc_id": row[2], "collection": row[3], "source": row[4], "content_hash": row[5],
        "page_number": row[6], "page_count": row[7], "kind": row[8], "title": row[9], "language": row[10],
        "text": row[11], "ocr": bool(row[12]), "has_figures": bool(row[13]), "image": None, "thumbnail": None,
        "word_boxes": None, "embedding": None, "acl": json.loads(row[14]) if row[14] != "[]" else [],
    })  # fmt: skip


M = TypeVar("M", bound=BaseModel)
_PAGE_FIELDS = (
    "page_id", "doc_id", "collection", "source", "content_hash", "page_number", "page_count", "kind", "title",
    "language", "text", "ocr", "has_figures", "image", "thumbnail", "word_boxes", "embedding", "acl",
)  # fmt: skip


def _fast_construct(cls: type[M], values: dict[str, Any]) -> M:
    # What model_construct does for a complete set of fields in declaration order, without its
    # per-field default handling, which costs several times more (a search builds 2 models per
    # candidate).
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _slow_construct(cls: type[M], values: dict[str, Any]) -> M:
    return cls.model_construct(**values)


def _pick_constructor() -> Callable[[type[M], dict[str, Any]], M]:
    """The fast path only if it builds exactly what model_construct builds (pydantic internals)
    and the records' fields are still the ones (and the order) the callers here pass."""
    if tuple(Page.model_fields) != _PAGE_FIELDS or tuple(Hit.model_fields) != (
        "page",
        "score",
        "rank",
        "snippet",
    ):
        return _slow_construct
    probe: dict[str, Any] = {name: None for name in Page.model_fields}
    probe.update(
        page_id="p:1", doc_id="p", source="/p", content_hash="h", page_number=1, page_count=1, acl=[]
    )
    try:
        fast = _fast_construct(Page, dict(probe))
        slow = Page.model_construct(**probe)
        if fast.model_dump_json() == slow.model_dump_json() and fast == slow:
            return _fast_construct
    except Exception:  # noqa: BLE001 - any difference means: use the documented way
        pass
    return _slow_construct


trusted = _pick_constructor()


def document_from_row(row: sqlite3.Row) -> DocumentInfo:
    return DocumentInfo(
        doc_id=row["doc_id"], collection=row["collection"], source=row["source"], title=row["title"],
        content_hash=row["content_hash"], page_count=row["page_count"], pages_stored=row["pages_stored"],
        complete=bool(row["complete"]), acl=json.loads(row["acl"]),
    )  # fmt: skip


def placeholders(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))
