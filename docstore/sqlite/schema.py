"""SQLite tables for the embedded store, and how its connections are opened.

pages      one row per page (rowid shared with vectors and the side indices), acl as JSON
vectors    the page's embedding as a float32 blob
changes    the page change log the side indices beside the file catch up from
           (docstore.sqlite.changes): the BM25 index `folio.db.bm25/` (docstore.sqlite.lexical_index)
images     page image, thumbnail and word boxes (docstore.word_boxes), blobs apart so that
           searches never read them; stores from before word boxes get the column on open
documents  one row per indexed file, `complete` set last (resumable indexing)
meta       store-wide settings (embedder, dim), `generation`, bumped on every page write so
           every process can tell when its cached vector matrix is stale, and `store_id`, a
           random name the side indices beside the file record (docstore.sqlite.hnsw_file)
failures   files that could not be opened, with the size and mtime they had then
shared_records  what API servers on the file share (docstore.sqlite.shared_state): records by
           table and id, JSON, with a version that conditional writes compare"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from docstore.sqlite import changes

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, collection TEXT NOT NULL, source TEXT NOT NULL, title TEXT NOT NULL,
    content_hash TEXT NOT NULL, page_count INTEGER NOT NULL, complete INTEGER NOT NULL,
    acl TEXT NOT NULL, public INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    rowid INTEGER PRIMARY KEY, page_id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL,
    collection TEXT NOT NULL, language TEXT NOT NULL, public INTEGER NOT NULL, acl TEXT NOT NULL,
    source TEXT NOT NULL, content_hash TEXT NOT NULL, page_number INTEGER NOT NULL,
    page_count INTEGER NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL, ocr INTEGER NOT NULL,
    has_figures INTEGER NOT NULL, text TEXT NOT NULL
);
-- apart from pages so that filter lookups in a BM25 join never read vector blobs
CREATE TABLE IF NOT EXISTS vectors (rowid INTEGER PRIMARY KEY, embedding BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS pages_doc ON pages (doc_id);
CREATE INDEX IF NOT EXISTS pages_collection ON pages (collection);
CREATE TABLE IF NOT EXISTS images (page_id TEXT PRIMARY KEY, image BLOB, thumbnail BLOB, word_boxes BLOB);
-- the languages a query is analysed for (docstore.analysis) are read through it
CREATE INDEX IF NOT EXISTS pages_language ON pages (language);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '0');
-- names this file for the indices derived from it: one built from another file is rebuilt
INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
CREATE TABLE IF NOT EXISTS failures (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shared_records (
    tbl TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (tbl, id)
);
"""

# Filter columns first and text last: a row's leading columns are read without touching the
# overflow pages a long text spills into.
PAGE_COLUMNS = (
    "page_id, doc_id, collection, language, public, acl, source, content_hash, page_number, "
    "page_count, kind, title, ocr, has_figures, text"
)


def path_from_url(url: str) -> Path:
    """`sqlite:///rel/path.db` → rel/path.db, `sqlite:////abs/path.db` → /abs/path.db."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite store URL: {url!r} (use sqlite:///path/folio.db)")
    raw = url[len("sqlite:///") :].split("?", 1)[0]
    if not raw:
        raise ValueError(f"SQLite store URL without a path: {url!r}")
    return Path(raw)


def connect(path: Path, create: bool) -> sqlite3.Connection:
    """A connection in WAL mode (readers never block the one writer)."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)  # explicit transactions
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    # Reads go through the OS page cache without a copy into SQLite's own, and a larger page
    # cache per connection keeps the FTS5 doclists of frequent terms hot between queries.
    conn.execute("PRAGMA mmap_size=1073741824")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    if create:
        conn.executescript(DDL + changes.DDL)
        drop_fts(conn)
        add_word_boxes(conn)
    return conn


def drop_fts(conn: sqlite3.Connection) -> None:
    """Drop the FTS5 tables of a store written before the BM25 side index (which is built from
    the pages table on first use): they would only take space and write time."""
    names = {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name IN ('pages_fts', 'pages_stem')")
    }
    if not names:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name in sorted(names):
            conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute("DELETE FROM meta WHERE key = 'stems'")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def add_word_boxes(conn: sqlite3.Connection) -> None:
    """Give the images table of a store written before word boxes its column (their pages have
    none: NULL). In one write transaction, so a concurrent opener waits and then finds it there."""
    if _has_word_boxes(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not _has_word_boxes(conn):
            conn.execute("ALTER TABLE images ADD COLUMN word_boxes BLOB")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _has_word_boxes(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "word_boxes" for row in conn.execute("PRAGMA table_info(images)"))
