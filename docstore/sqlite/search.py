"""The SQLite store's BM25 query and hit assembly (the I/O shell around `fts`)."""

from __future__ import annotations

import sqlite3

from docstore.schema import Filters, Hit, SearchRequest
from docstore.snippets import make_snippet
from docstore.sqlite.fts import fts_query
from docstore.sqlite.rows import HIT_COLUMNS, filter_clause, page_from_tuple, placeholders, trusted

TITLE_WEIGHT, TEXT_WEIGHT = 2.0, 1.0  # bm25() column weights: a title match counts double
_BM25 = f"bm25(pages_fts, {TITLE_WEIGHT}, {TEXT_WEIGHT})"


def bm25_rank(conn: sqlite3.Connection, query: str, filters: Filters, k: int) -> list[tuple[int, float]]:
    match = fts_query(query)
    if match is None:
        return []
    where, params = filter_clause(filters)
    if where == "1":  # no filter: rank inside FTS5 alone, without a join to pages
        rows = conn.execute(
            f"SELECT rowid, -{_BM25} FROM pages_fts WHERE pages_fts MATCH ? ORDER BY {_BM25}, rowid LIMIT ?",
            [match, k],
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]
    rows = conn.execute(
        f"SELECT p.rowid, -{_BM25} FROM pages_fts JOIN pages p ON p.rowid = pages_fts.rowid"
        f" WHERE pages_fts MATCH ? AND {where} ORDER BY {_BM25}, p.rowid LIMIT ?",
        [match, *params, k],
    ).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


def build_hits(
    conn: sqlite3.Connection, ranked: list[tuple[int, float]], request: SearchRequest
) -> list[Hit]:
    if not ranked:
        return []
    rowids = [r for r, _ in ranked]
    # one query for every hit's row; the cursor is plain tuples (no sqlite3.Row per row)
    cur = conn.cursor()
    cur.row_factory = None
    rows = cur.execute(
        f"SELECT rowid, {HIT_COLUMNS} FROM pages WHERE rowid IN ({placeholders(rowids)})", rowids
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    hits: list[Hit] = []
    for rowid, score in ranked:
        row = by_id.get(rowid)
        if row is None:  # deleted between ranking and fetching
            continue
        page = page_from_tuple(row)
        snippet = make_snippet(page.text, request.query) if request.snippets and page.text else ""
        # the values come from our own table, already validated on write: skip re-validation
        hits.append(
            trusted(
                Hit,
                {"page": page, "score": score, "rank": request.offset + len(hits) + 1, "snippet": snippet},
            )
        )
    return hits
