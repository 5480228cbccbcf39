"""The embedded store: one SQLite file with FTS5 for BM25, float32 vectors beside the pages and
page images in a blob table. See `schema` (tables), `fts` (CJK-aware analysis), `vectors`
(exact cosine kNN) and, for large stores, `hnsw` (the HNSW graph beside the file, derived from it).

Concurrency: WAL mode, one connection per thread (the API serves from a thread pool), writes
serialised by a lock within the process and by `BEGIN IMMEDIATE` across processes."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from docstore import feedback
from docstore.feedback import FeedbackPage
from docstore.fusion import fuse_hybrid, fusion_depth, knn_depth
from docstore.protocol import StoreUnavailable
from docstore.schema import (
    DocumentInfo,
    FileFailure,
    Filters,
    Hit,
    Page,
    SearchMode,
    SearchRequest,
    check_image_kind,
)
from docstore.sqlite import changes
from docstore.sqlite.hnsw import HnswIndex, StaleLog, min_rows, save_tail
from docstore.sqlite.hnsw_file import HnswFiles, persisted_watermark
from docstore.sqlite.lexical_index import LexicalIndex
from docstore.sqlite.rows import (
    document_from_row,
    filter_clause,
    page_from_row,
    page_values,
    placeholders,
    visibility_clause,
)
from docstore.sqlite.schema import PAGE_COLUMNS, connect, path_from_url
from docstore.sqlite.search import build_hits, index_languages
from docstore.sqlite.vectors import VectorIndex

if TYPE_CHECKING:
    from docstore.shared_state import SharedState

T = TypeVar("T")

CATCH_UP_SECONDS = 1.0
_KNN_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="folio-knn")


class SqliteStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._path = path_from_url(url)  # parses only: no I/O until the first call
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._vectors: VectorIndex | None = None
        self._hnsw: HnswIndex | None = None  # instead of _vectors from min_rows() pages on
        self._hnsw_files = HnswFiles(self._path)
        self._vectors_lock = threading.Lock()
        self._wrote_pages = False  # this process changed pages: bring the HNSW file in step on close
        self._languages: tuple[str, list[str]] | None = None  # (generation, languages present)
        self._lexical = LexicalIndex(self._path)
        self._trimmable = 0  # change-log entries every side index holds
        self._caught_up_at = 0.0
        self._unpublished = False  # this process wrote pages the side indices may not hold yet

    # -- connections -------------------------------------------------------------------
    def _conn(self, create: bool = True) -> sqlite3.Connection | None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if not create and not self._path.exists():
            return None  # reading a store that does not exist yet: empty, and no file created
        try:
            conn = connect(self._path, create=True)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self._path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        self._local.conn = conn
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _writer(self) -> sqlite3.Connection:
        conn = self._conn(create=True)
        assert conn is not None
        return conn

    def write(self, sql_fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run sql_fn(conn) in one IMMEDIATE transaction (the store's own tables, and those beside
        them: docstore.sqlite.shared_state)."""
        conn = self._writer()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = sql_fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return result

    def read(self, sql_fn: Callable[[sqlite3.Connection], T], missing: T) -> T:
        """sql_fn(conn) on this thread's connection; `missing` while the file does not exist (a
        read never creates it)."""
        conn = self._conn(create=False)
        return missing if conn is None else sql_fn(conn)

    def shared_state(self, keys_file: Path | None = None) -> SharedState:
        """Keys in `keys.db` beside the file unless `keys_file` is given; see docstore.shared_state."""
        from docstore.sqlite.shared_state import table_shared_state

        return table_shared_state(self, keys_file or self._path.with_name("keys.db"))

    def bulk_load(self) -> AbstractContextManager[None]:
        """Nothing to change: each write is one transaction, searchable at its commit."""
        return nullcontext()

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    # -- meta --------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        conn = self._conn(create=False)
        if conn is None:
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.write(
            lambda c: c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        )

    def _dim(self) -> int | None:
        value = self.get_meta("dim")
        return int(value) if value else None

    def ensure(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"embedding dim must be >= 1, got {dim}")
        current = self._dim()
        if current is not None and current != dim:
            raise ValueError(
                f"{self.url} holds {current}-dim embeddings; cannot use {dim} (re-index into a new store)"
            )
        self.set_meta("dim", str(dim))

    def exists(self) -> bool:
        return self._path.exists()

    def ping(self) -> bool:
        try:
            conn = self._conn(create=True)
            return conn is not None and conn.execute("SELECT 1").fetchone() is not None
        except (StoreUnavailable, sqlite3.Error):
            return False

    # -- failures ----------------------------------------------------------------------
    def get_failure(self, doc_id: str) -> FileFailure | None:
        conn = self._conn(create=False)
        if conn is None:
            return None
        row = conn.execute(
            "SELECT doc_id, source, size, mtime_ns, reason FROM failures WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return None if row is None else FileFailure(**dict(row))

    def record_failure(self, failure: FileFailure) -> None:
        values = (failure.doc_id, failure.source, failure.size, failure.mtime_ns, failure.reason)
        self.write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO failures (doc_id, source, size, mtime_ns, reason) VALUES (?, ?, ?, ?, ?)",
                values,
            )
        )

    def clear_failure(self, doc_id: str) -> None:
        if self._conn(create=False) is not None:
            self.write(lambda c: c.execute("DELETE FROM failures WHERE doc_id = ?", (doc_id,)))

    # -- writes ------------------------------------------------------------------------
    def upsert_pages(self, pages: Sequence[Page]) -> None:
        if not pages:
            return
        dim = self._dim()
        if dim is None:
            first = next((p.embedding for p in pages if p.embedding is not None), None)
            if first is not None:
                self.ensure(len(first))
                dim = len(first)
        rows = [(p, page_values(p, dim)) for p in pages]  # validates before writing

        def write(conn: sqlite3.Connection) -> None:
            changes.trim(conn, self._trimmable)
            for page, (values, blob) in rows:
                self._delete_pages(conn, "page_id = ?", [page.page_id])
                cur = conn.execute(
                    f"INSERT INTO pages ({PAGE_COLUMNS}) VALUES ({placeholders(values)})", values
                )
                rowid = int(cur.lastrowid or 0)
                changes.record(conn, [rowid])
                if blob is not None:
                    conn.execute("INSERT INTO vectors (rowid, embedding) VALUES (?, ?)", (rowid, blob))
                if page.image is not None or page.thumbnail is not None or page.word_boxes is not None:
                    conn.execute(
                        "INSERT INTO images (page_id, image, thumbnail, word_boxes) VALUES (?, ?, ?, ?)",
                        (page.page_id, page.image, page.thumbnail, page.word_boxes),
                    )
            self._bump(conn)

        self.write(write)
        self._wrote_pages = True
        self._side_indices_catch_up()

    @staticmethod
    def _delete_pages(conn: sqlite3.Connection, where: str, params: list[Any]) -> int:
        found = conn.execute(f"SELECT rowid, page_id FROM pages WHERE {where}", params).fetchall()
        changes.record(conn, [int(r[0]) for r in found])
        for rowid, page_id in found:
            conn.execute("DELETE FROM vectors WHERE rowid = ?", (rowid,))
            conn.execute("DELETE FROM images WHERE page_id = ?", (page_id,))
            conn.execute("DELETE FROM pages WHERE rowid = ?", (rowid,))
        return len(found)

    def begin_document(self, info: DocumentInfo) -> None:
        values = (
            info.doc_id, info.collection, info.source, info.title, info.content_hash, info.page_count,
            json.dumps(info.acl), int(not info.acl),
        )  # fmt: skip
        self.write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO documents (doc_id, collection, source, title, content_hash, page_count,"
                " complete, acl, public) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
                values,
            )
        )

    def finish_document(self, doc_id: str) -> None:
        self.write(lambda c: c.execute("UPDATE documents SET complete = 1 WHERE doc_id = ?", (doc_id,)))

    def delete_document(self, doc_id: str) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            changes.trim(conn, self._trimmable)
            removed = self._delete_pages(conn, "doc_id = ?", [doc_id])
            conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            self._bump(conn)
            return removed

        removed = int(self.write(delete))
        self._wrote_pages = True
        self._side_indices_catch_up()
        return removed

    def _side_indices_catch_up(self, force: bool = False) -> None:
        """Publish the writes made so far to the side indices, at most once per CATCH_UP_SECONDS
        while writes go on (a tantivy commit costs tens of milliseconds; a search catches up
        whatever is left first), then forget the change-log entries they all hold
        (docstore.sqlite.changes) at the next write."""
        self._unpublished = True
        now = time.monotonic()
        if not force and now - self._caught_up_at < CATCH_UP_SECONDS:
            return
        conn = self._writer()
        held = self._lexical.catch_up(conn, wait=True)
        self._caught_up_at = time.monotonic()
        self._unpublished = False
        # trimmed in the next write's transaction (one commit per write, not two), as far as every
        # side index file holds (the HNSW graph's file is saved only now and then)
        graph = persisted_watermark(self._path)
        self._trimmable = min(held or 0, held or 0 if graph is None else graph)

    # -- reads -------------------------------------------------------------------------
    def _documents(self, where: str, params: list[Any]) -> list[DocumentInfo]:
        conn = self._conn(create=False)
        if conn is None:
            return []
        rows = conn.execute(
            "SELECT d.*, (SELECT count(*) FROM pages p WHERE p.doc_id = d.doc_id) AS pages_stored"
            f" FROM documents d WHERE {where} ORDER BY d.collection, d.source, d.doc_id",
            params,
        ).fetchall()
        return [document_from_row(r) for r in rows]

    def get_document(self, doc_id: str) -> DocumentInfo | None:
        found = self._documents("d.doc_id = ?", [doc_id])
        return found[0] if found else None

    def list_documents(self, filters: Filters | None = None) -> list[DocumentInfo]:
        where, params = filter_clause(filters, alias="d", language=False)
        return self._documents(where, params)

    def get_page(self, page_id: str, groups: list[str] | None = None) -> Page | None:
        conn = self._conn(create=False)
        if conn is None:
            return None
        acl_sql, acl_params = visibility_clause(groups)
        row = conn.execute(
            "SELECT p.*, v.embedding, i.image, i.thumbnail, i.word_boxes FROM pages p"
            " LEFT JOIN images i ON i.page_id = p.page_id"
            " LEFT JOIN vectors v ON v.rowid = p.rowid"
            f" WHERE p.page_id = ? AND {acl_sql}",
            [page_id, *acl_params],
        ).fetchone()
        return None if row is None else page_from_row(row, with_media=True)

    def get_image(
        self, page_id: str, kind: Literal["image", "thumbnail"] = "image", groups: list[str] | None = None
    ) -> bytes | None:
        return self.get_images([page_id], kind, groups).get(page_id)

    def get_pages(self, page_ids: Sequence[str], groups: list[str] | None = None) -> list[Page]:
        conn = self._conn(create=False)
        wanted = list(dict.fromkeys(page_ids))
        if conn is None or not wanted:
            return []
        acl_sql, acl_params = visibility_clause(groups)
        found: dict[str, Page] = {}
        for chunk in _chunks(wanted):
            rows = conn.execute(
                f"SELECT p.* FROM pages p WHERE p.page_id IN ({placeholders(chunk)}) AND {acl_sql}",
                [*chunk, *acl_params],
            ).fetchall()
            found.update((row["page_id"], page_from_row(row)) for row in rows)
        return [found[pid] for pid in wanted if pid in found]

    def get_images(
        self,
        page_ids: Sequence[str],
        kind: Literal["image", "thumbnail"] = "image",
        groups: list[str] | None = None,
    ) -> dict[str, bytes]:
        check_image_kind(kind)  # it is put into the SQL
        return self._blobs(page_ids, kind, groups)

    def get_word_boxes(self, page_ids: Sequence[str], groups: list[str] | None = None) -> dict[str, bytes]:
        return self._blobs(page_ids, "word_boxes", groups)

    def _blobs(self, page_ids: Sequence[str], column: str, groups: list[str] | None) -> dict[str, bytes]:
        """One `images` column by page_id, for the pages `groups` may see that have it set."""
        conn = self._conn(create=False)
        wanted = list(dict.fromkeys(page_ids))
        if conn is None or not wanted:
            return {}
        acl_sql, acl_params = visibility_clause(groups)
        blobs: dict[str, bytes] = {}
        for chunk in _chunks(wanted):
            rows = conn.execute(
                f"SELECT i.page_id, i.{column} FROM images i JOIN pages p ON p.page_id = i.page_id"
                f" WHERE i.page_id IN ({placeholders(chunk)}) AND i.{column} IS NOT NULL AND {acl_sql}",
                [*chunk, *acl_params],
            ).fetchall()
            blobs.update((str(row[0]), bytes(row[1])) for row in rows)
        return blobs

    def count(self, filters: Filters | None = None) -> int:
        conn = self._conn(create=False)
        if conn is None:
            return 0
        where, params = filter_clause(filters)
        return int(conn.execute(f"SELECT count(*) FROM pages p WHERE {where}", params).fetchone()[0])

    def language_counts(self, filters: Filters | None = None) -> dict[str, int]:
        conn = self._conn(create=False)
        if conn is None:
            return {}
        where, params = filter_clause(filters)
        rows = conn.execute(f"SELECT language, count(*) FROM pages p WHERE {where} GROUP BY language", params)
        return {str(language): int(n) for language, n in rows.fetchall()}

    # -- search ------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> list[Hit]:
        if request.mode in (SearchMode.knn, SearchMode.hybrid) and request.vector is None:
            if request.mode == SearchMode.knn:
                raise ValueError("knn search needs a query vector (embed the query first)")
        conn = self._conn(create=False)
        if conn is None:
            return []
        want = request.offset + request.top_k
        if request.mode == SearchMode.bm25:
            languages = self._index_languages(conn)
            expansion = self._feedback(conn, request, languages) if request.feedback else None
            ranked = self._lexical.search(conn, request.query, request.filters, want, languages, expansion)
        elif request.mode == SearchMode.knn:
            assert request.vector is not None
            index = self._vector_index(conn)
            ranked = [] if index is None else self._knn_top(index, request.vector, request.filters, want)
        else:
            depth = fusion_depth(want)
            knn = None
            if request.vector is not None:
                # The matvec (numpy) and the FTS5 query (SQLite) both release the GIL: run the
                # kNN beside the BM25 query rather than after it.
                index = self._vector_index(conn)
                if index is not None:
                    knn = _KNN_POOL.submit(
                        self._knn_top, index, request.vector, request.filters, knn_depth(want)
                    )
            languages = self._index_languages(conn)
            lexical = self._lexical.search(conn, request.query, request.filters, depth, languages)
            ranked = fuse_hybrid(lexical, None if knn is None else knn.result())
        return build_hits(conn, ranked[request.offset : want], request)

    def _feedback(
        self, conn: sqlite3.Connection, request: SearchRequest, languages: list[str]
    ) -> dict[str, float]:
        """The query's expansion from its best pages that the request may see (docstore.feedback)."""
        top = self._lexical.search(conn, request.query, request.filters, feedback.DOCS, languages)
        if not top:
            return {}
        found = conn.execute(
            f"SELECT rowid, title, text, language FROM pages WHERE rowid IN ({placeholders(top)})",
            [rowid for rowid, _ in top],
        )
        rows = {rowid: (title, text, language) for rowid, title, text, language in found}
        pages = [FeedbackPage(*rows[rowid], score=score) for rowid, score in top if rowid in rows]
        return feedback.expansion(pages, request.query, languages)

    def _index_languages(self, conn: sqlite3.Connection) -> list[str]:
        """The languages present, re-read only after a write (any process's: generation)."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = str(row[0]) if row else "0"
        cached = self._languages
        if cached is None or cached[0] != generation:
            cached = self._languages = (generation, index_languages(conn))
        return cached[1]

    def _knn_top(
        self, index: VectorIndex | HnswIndex, vector: list[float], filters: Filters, k: int
    ) -> list[tuple[int, float]]:
        if isinstance(index, HnswIndex):  # re-scores from the vectors table: this thread's connection
            conn = self._conn(create=False)
            return [] if conn is None else index.top(conn, vector, filters, k)
        return index.top(vector, filters, k)

    def _vector_index(self, conn: sqlite3.Connection) -> VectorIndex | HnswIndex | None:
        """The HNSW graph caught up with every process's writes, for a store of min_rows() pages
        or one with a graph file; below that the exact matrix, reloaded when any process has
        written pages since (generation)."""
        hnsw = self._hnsw
        if hnsw is not None and changes.latest(conn) == hnsw.watermark:
            return hnsw
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'dim')").fetchall())
        generation = str(meta.get("generation", "0"))
        if not meta.get("dim"):
            return None  # no embeddings stored yet
        dim = int(meta["dim"])
        with self._vectors_lock:
            if self._hnsw is not None:
                try:
                    self._hnsw.catch_up(conn)
                except StaleLog:  # another process saved a newer file and the log was trimmed
                    self._hnsw = self._open_hnsw(conn, dim)
                self._save_if_behind(self._hnsw, save_tail())
                return self._hnsw
            if self._vectors is not None and self._vectors.generation == generation:
                return self._vectors
            if self._wants_hnsw(conn):
                self._vectors = None
                self._hnsw = self._open_hnsw(conn, dim)
                return self._hnsw
            self._vectors = VectorIndex.load(conn, generation, dim)
            return self._vectors

    def storage(self) -> dict[str, int]:
        parts = {self._path.name: sum(_size(Path(f"{self._path}{s}")) for s in ("", "-wal"))}
        parts[self._lexical.path.name] = self._lexical.size_bytes()
        if self._hnsw_files.size():
            parts[self._hnsw_files.graph.name] = self._hnsw_files.size()
        return parts

    def _wants_hnsw(self, conn: sqlite3.Connection) -> bool:
        if self._hnsw_files.read_meta() is not None:
            return True
        threshold = min_rows()
        top = conn.execute("SELECT max(rowid) FROM vectors").fetchone()[0]
        if top is None or int(top) < threshold:  # rowids only grow: a cheap upper bound first
            return False
        return int(conn.execute("SELECT count(*) FROM pages").fetchone()[0]) >= threshold

    def _open_hnsw(self, conn: sqlite3.Connection, dim: int) -> HnswIndex:
        """The saved graph caught up from the log, or one built from the tables (and saved)."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        store_id = str(row[0]) if row else ""
        index = HnswIndex.load(self._hnsw_files, conn, dim, store_id)
        if index is None:
            index = HnswIndex.build(conn, dim, store_id)
            index.save(self._hnsw_files)
        return index

    def _save_if_behind(self, index: HnswIndex, entries: int) -> None:
        if index.behind_file() >= entries:
            index.save(self._hnsw_files)

    def flush(self) -> None:
        """Bring the files derived from the database (the HNSW graph, for a store that has or
        needs one) in step with it now."""
        conn = self._conn(create=False)
        if conn is None:
            return
        index = self._vector_index(conn)
        if isinstance(index, HnswIndex):
            self._save_if_behind(index, 1)

    def _close_side_indices(self) -> None:
        """After this process wrote pages: save the graph it holds, or bring the file in step if
        it is SAVE_TAIL entries behind or missing on a store that needs one (an indexer's last
        step, so the server's first search finds it ready)."""
        if not self._wrote_pages:
            return
        conn = self._conn(create=False)
        if conn is None:
            return
        if self._hnsw is not None:
            self.flush()
            return
        meta = self._hnsw_files.read_meta()
        behind = meta is None or changes.latest(conn) - int(meta["watermark"]) >= save_tail()
        if behind and (meta is not None or self._wants_hnsw(conn)):
            self.flush()

    def close(self) -> None:
        if self._unpublished:
            # what this process wrote is in the side indices when it ends (else the next reader
            # would catch up, at its first search)
            with contextlib.suppress(StoreUnavailable, sqlite3.Error):
                self._side_indices_catch_up(force=True)
        try:
            self._close_side_indices()
        except (sqlite3.Error, OSError, RuntimeError, StoreUnavailable):
            pass  # derived files: the next process catches up from the change log
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()
        self._vectors = None
        self._lexical.close()
        self._hnsw = None
        self._wrote_pages = False


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    """Lists short enough for one `IN (...)` (SQLite caps the parameters of a statement)."""
    return [values[i : i + size] for i in range(0, len(values), size)]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
