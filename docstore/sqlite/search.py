"""The SQLite store's BM25 query and hit assembly (the I/O shell around `fts`)."""

from __future__ import annotations

import sqlite3

from docstore import analysis
from docstore.analysis import query_terms
from docstore.schema import Filters, Hit, SearchRequest
from docstore.snippets import make_snippet
from docstore.sqlite.fts import exact_match, stem_match
from docstore.sqlite.rows import HIT_COLUMNS, filter_clause, page_from_tuple, placeholders, trusted

# bm25() column weights: a title's words count once more than the text's (text pages repeat their
# title line, PDF pages do not), as in OpenSearch's `content` field, which holds title and text
TITLE_WEIGHT, TEXT_WEIGHT = 1.0, 1.0
_BM25 = f"bm25(pages_fts, {TITLE_WEIGHT}, {TEXT_WEIGHT})"


def index_languages(conn: sqlite3.Connection) -> list[str]:
    """The page languages present (through the pages_language index), which queries are analysed for."""
    return [str(r[0]) for r in conn.execute("SELECT DISTINCT language FROM pages").fetchall()]


def bm25_rank(
    conn: sqlite3.Connection, query: str, filters: Filters, k: int, languages: list[str]
) -> list[tuple[int, float]]:
    """BM25 on the exact table plus STEM_WEIGHT × BM25 on the stemmed table, summed per page (a
    page matching the exact form scores on both), like OpenSearch's bool over the two fields."""
    terms = query_terms(query, languages)
    parts: list[str] = []
    params: list[object] = []
    exact, stems = exact_match(terms.exact), stem_match(terms.stems)
    if exact is not None:
        parts.append(f"SELECT rowid, -{_BM25} AS s FROM pages_fts WHERE pages_fts MATCH ?")
        params.append(exact)
    if stems is not None:
        parts.append(
            f"SELECT rowid, -{analysis.STEM_WEIGHT} * bm25(pages_stem) AS s FROM pages_stem WHERE pages_stem MATCH ?"
        )
        params.append(stems)
    if not parts:
        return []
    # MATERIALIZED: flattened into the aggregate, a lone FTS5 query could not call bm25()
    matches = "WITH m AS MATERIALIZED (" + " UNION ALL ".join(parts) + ") "
    where, filter_params = filter_clause(filters)
    if where == "1":  # no filter: rank inside FTS5 alone, without a join to pages
        sql = (
            matches + "SELECT rowid, sum(s) AS score FROM m GROUP BY rowid ORDER BY score DESC, rowid LIMIT ?"
        )
    else:
        sql = (
            matches + "SELECT m.rowid, sum(m.s) AS score FROM m JOIN pages p ON p.rowid = m.rowid"
            f" WHERE {where} GROUP BY m.rowid ORDER BY score DESC, m.rowid LIMIT ?"
        )
    rows = conn.execute(sql, [*params, *filter_params, k]).fetchall()
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
