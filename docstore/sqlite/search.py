"""The SQLite store's hit assembly, and the languages its queries are analysed for."""

from __future__ import annotations

import sqlite3

from docstore.schema import Hit, SearchRequest
from docstore.snippets import make_snippet
from docstore.sqlite.rows import HIT_COLUMNS, page_from_tuple, placeholders, trusted


def index_languages(conn: sqlite3.Connection) -> list[str]:
    """The page languages present (through the pages_language index), which queries are analysed for."""
    return [str(r[0]) for r in conn.execute("SELECT DISTINCT language FROM pages").fetchall()]


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
