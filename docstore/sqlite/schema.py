"""SQLite tables for the embedded store, and how its connections are opened.

pages      one row per page (rowid shared with pages_fts and vectors), acl as JSON
vectors    the page's embedding as a float32 blob
pages_fts  FTS5 over title and text in index form (see sqlite_fts), rowid = pages.rowid
pages_stem FTS5 over the page's stemmed field (docstore.analysis), rowid = pages.rowid; stores
           from before it are filled on open (meta `stems`)
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

from docstore.analysis import stem_text
from docstore.sqlite import changes

STEMS_KEY = "stems"  # meta: pages_stem holds every page's stemmed field
_BACKFILL_CHUNK = 500

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
CREATE VIRTUAL TABLE IF NOT EXISTS pages_fts USING fts5 (
    title, text, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS pages_stem USING fts5 (
    stems, tokenize = 'unicode61 remove_diacritics 2'
);
-- the languages a query is analysed for (docstore.analysis) are read through it
CREATE INDEX IF NOT EXISTS pages_language ON pages (language);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '0');
-- names this database to the files derived from it (a side index from another store is rebuilt)
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
        fill_stems(conn)
        add_word_boxes(conn)
    return conn


def stem_values(title: str, text: str, language: str) -> str:
    return stem_text(title + "\n" + text, language)


def fill_stems(conn: sqlite3.Connection) -> None:
    """Fill pages_stem for a store written before it existed (once: meta `stems` says it is done;
    a new store is marked at once). Runs in one write transaction, so concurrent openers wait
    and then find it done."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (STEMS_KEY,)).fetchone():
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not conn.execute("SELECT 1 FROM meta WHERE key = ?", (STEMS_KEY,)).fetchone():
            conn.execute("DELETE FROM pages_stem")
            last = 0
            while True:
                rows = conn.execute(
                    "SELECT rowid, title, text, language FROM pages WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (last, _BACKFILL_CHUNK),
                ).fetchall()
                if not rows:
                    break
                conn.executemany(
                    "INSERT INTO pages_stem (rowid, stems) VALUES (?, ?)",
                    [(r[0], stem_values(r[1], r[2], r[3])) for r in rows],
                )
                last = rows[-1][0]
            conn.execute("INSERT INTO meta (key, value) VALUES (?, '1')", (STEMS_KEY,))
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
