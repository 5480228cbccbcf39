"""kNN without a full scan for large SQLite stores: an HNSW graph (usearch, f16 vectors, inner
product on unit vectors) keyed by the pages' SQLite rowids, derived from the tables and kept in
step through the change log (docstore.sqlite.changes).

A search takes one of two ways, both ending in an exact float32 re-scoring of the candidates
from the `vectors` table, so every hit carries its exact cosine:
- a filter that selects few pages (at most EXACT_ROWS) is scanned: the f16 copies of just those
  pages are scored, then re-scored exactly as far as the f16 error bound requires: the exact
  top-k, as the exact scan returns it;
- anything broader searches the graph for more neighbours than asked, as many more as the
  filter's share of the pages requires (doubled until k visible ones are found, bounded), and
  keeps the visible ones (filters: docstore.sqlite.row_filters, tested on the graph's answers).
A row is re-scored when its f16 score is within the f16 error bound of the k-th best, so the
order among the graph's candidates is exact; the graph's own recall (recall@10 against the exact
search, in the first-stage bench) is what the search can miss.

Each process holds the graph in memory and, before every search, replays the log entries after
its watermark (a rowid still in `vectors` is re-added, a gone one removed), so it sees every
process's writes. The file beside the database (docstore.sqlite.hnsw_file) spares a new process
the build: it is loaded and caught up from the log, rebuilt from the tables when missing,
unreadable, from another store or older than the log reaches; it is re-saved when a process is
SAVE_TAIL entries past it, and when a process that wrote pages closes the store."""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import cachetools
import numpy as np
import numpy.typing as npt
import usearch
from usearch.index import Index

from docstore.schema import Filters
from docstore.sqlite import changes
from docstore.sqlite.hnsw_file import HnswFiles
from docstore.sqlite.row_filters import SELECT, RowFilters

CONNECTIVITY, EXPANSION_ADD = 16, 128  # graph degree and build-time beam (usearch's defaults: 16, 128)
EXACT_ROWS = 10_000  # a filter selecting at most this many pages is scanned, not searched in the graph
MAX_COUNT = 8_192  # the most neighbours one graph search asks for; past it a filter is scanned
# |f16 score - exact score| for unit vectors: each vector's f16 rounding moves it by at most
# 2^-11 of its length (4.9e-4); the query's too when the graph scores it; doubled for safety
F16_ERROR = 2e-3
BUILD_CHUNK = 20_000
_SQL_CHUNK = 500  # rowids per `IN (...)`


def min_rows() -> int:
    """Stores with fewer pages keep the exact scan (docstore.sqlite.vectors): fast enough there,
    and nothing to build. FOLIO_HNSW_MIN_ROWS overrides (read at each decision, for tests)."""
    return int(os.environ.get("FOLIO_HNSW_MIN_ROWS", "50000"))


def save_tail() -> int:
    """Re-save the file once a process is this many change-log entries past it."""
    return int(os.environ.get("FOLIO_HNSW_SAVE_TAIL", "20000"))


def expansion_search() -> int:
    """The search beam: 512 gives recall@10 0.984 against the exact search at 1M pages in the
    first-stage bench (128: 0.912; 1,024: 0.984 again, the graph's own limit)."""
    return int(os.environ.get("FOLIO_HNSW_EF", "512"))


def _threads() -> int:
    return max(1, os.cpu_count() or 1)


def _margin(k: int) -> int:
    """Neighbours asked for beyond k: room to re-score the rows just below the k-th."""
    return max(10, k // 2)


class StaleLog(Exception):
    """The change log no longer reaches back to a watermark (entries were trimmed)."""


def _rows_normalised(blobs: list[bytes], dim: int) -> npt.NDArray[np.float32]:
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim).copy()
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms == 0, 1.0, norms)
    return matrix


def _chunks(values: list[int], size: int = _SQL_CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def reaches_back(conn: sqlite3.Connection, watermark: int, latest: int) -> bool:
    """Whether the log still holds every entry after `watermark` (up to `latest`)."""
    if watermark > latest:
        return False  # a file from another store, or the store was re-created
    if watermark == latest:
        return True
    first = conn.execute("SELECT min(seq) FROM changes").fetchone()[0]
    return first is not None and int(first) <= watermark + 1


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: the log's newest entry and the rows read agree (WAL snapshot)."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _tuples(conn: sqlite3.Connection, sql: str, params: list[Any] | tuple[Any, ...]) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.row_factory = None  # plain tuples, whatever the connection's factory
    return cur.execute(sql, params).fetchall()


def _ours(meta: dict[str, Any], dim: int, store_id: str) -> bool:
    """Whether a saved graph is of this store, its dims, and this usearch's file layout."""
    return (meta.get("store_id"), meta.get("dim"), meta.get("usearch")) == (
        store_id,
        dim,
        usearch.__version__,
    )


def _new_graph(dim: int) -> Index:
    return Index(
        ndim=dim, metric="ip", dtype="f16", connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD,
        expansion_search=expansion_search(),
    )  # fmt: skip


_VECTOR_ROWS = f"SELECT {SELECT}, v.embedding FROM pages p JOIN vectors v ON v.rowid = p.rowid"


@dataclass
class HnswIndex:
    dim: int
    store_id: str
    graph: Index
    rows: RowFilters  # filter codes of the pages in the graph (present = in the graph)
    watermark: int  # the newest change-log entry the graph reflects
    saved: int = -1  # the watermark of the file, as far as this process knows (-1: none)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # filter key -> (visible mask over rowids, how many); emptied whenever the graph changes
    _visible: cachetools.LRUCache[tuple[object, ...], tuple[npt.NDArray[np.bool_], int]] = field(
        default_factory=lambda: cachetools.LRUCache(maxsize=16)
    )

    # -- building, loading, catching up --------------------------------------------------
    @classmethod
    def build(cls, conn: sqlite3.Connection, dim: int, store_id: str) -> HnswIndex:
        """From the tables: every page with a vector, as of one snapshot."""
        index = cls(dim=dim, store_id=store_id, graph=_new_graph(dim), rows=RowFilters(), watermark=0)
        with snapshot(conn):
            index.watermark = changes.latest(conn)
            last = 0
            while True:
                batch = _tuples(
                    conn, f"{_VECTOR_ROWS} WHERE p.rowid > ? ORDER BY p.rowid LIMIT ?", (last, BUILD_CHUNK)
                )
                if not batch:
                    break
                index._add(batch)
                last = int(batch[-1][0])
        return index

    @classmethod
    def load(cls, files: HnswFiles, conn: sqlite3.Connection, dim: int, store_id: str) -> HnswIndex | None:
        """The saved graph caught up from the log; None when it cannot be used (rebuild)."""
        meta = files.read_meta()
        if meta is None or not _ours(meta, dim, store_id):
            return None
        watermark = int(meta["watermark"])
        if not reaches_back(conn, watermark, changes.latest(conn)):
            return None
        try:
            graph = Index.restore(str(files.graph))
        except (RuntimeError, ValueError, OSError):
            return None
        if graph is None or graph.ndim != dim:
            return None
        graph.expansion_search = expansion_search()  # type: ignore[misc]  # usearch's setter, unseen by mypy
        rows = RowFilters()
        with snapshot(conn):  # every page's codes; which are in the graph, the graph says
            last = 0
            while True:
                batch = _tuples(
                    conn,
                    f"SELECT {SELECT} FROM pages p WHERE p.rowid > ? ORDER BY p.rowid LIMIT ?",
                    (last, BUILD_CHUNK),
                )
                if not batch:
                    break
                rows.set_rows(batch)
                last = int(batch[-1][0])
        rows.keep_only(np.asarray(graph.keys, dtype=np.int64))
        index = cls(dim=dim, store_id=store_id, graph=graph, rows=rows, watermark=watermark, saved=watermark)
        try:
            index.catch_up(conn)
        except StaleLog:
            return None
        return index

    def _add(self, batch: list[Any]) -> None:
        width = 4 * self.dim
        batch = [r for r in batch if r[5] is not None and len(r[5]) == width]
        if not batch:
            return
        keys = np.array([r[0] for r in batch], dtype=np.uint64)
        self.graph.add(keys, _rows_normalised([r[5] for r in batch], self.dim), threads=_threads())
        self.rows.set_rows(r[:5] for r in batch)

    def catch_up(self, conn: sqlite3.Connection) -> None:
        """Replay the log entries after the watermark: a changed rowid still in `vectors` is
        (re)added, a gone one removed. Raises StaleLog when the log was trimmed past it."""
        if changes.latest(conn) == self.watermark:
            return
        with self._lock:
            with snapshot(conn):
                latest = changes.latest(conn)
                if latest == self.watermark:
                    return
                if not reaches_back(conn, self.watermark, latest):
                    raise StaleLog(f"the change log no longer reaches back to entry {self.watermark}")
                changed = changes.changed_since(conn, self.watermark, latest)
                present = [
                    row
                    for chunk in _chunks(changed)
                    for row in _tuples(
                        conn, f"{_VECTOR_ROWS} WHERE p.rowid IN ({','.join('?' * len(chunk))})", chunk
                    )
                ]
            ids = np.array(changed, dtype=np.int64)
            held = ids[np.asarray(self.graph.contains(ids.astype(np.uint64)), dtype=bool)]
            if held.size:
                self.graph.remove(held.astype(np.uint64))
            self.rows.remove(ids)
            for start in range(0, len(present), BUILD_CHUNK):
                self._add(present[start : start + BUILD_CHUNK])
            self.watermark = latest
            self._visible.clear()

    def save(self, files: HnswFiles) -> bool:
        """Write the graph beside the database unless another process is saving or the file is
        already as new; True when written."""
        with self._lock, files.saving() as mine:
            if not mine:
                return False
            meta = files.read_meta()
            if (
                meta is not None
                and _ours(meta, self.dim, self.store_id)
                and meta["watermark"] >= self.watermark
            ):
                self.saved = int(meta["watermark"])
                return False
            files.replace(
                lambda path: self.graph.save(str(path)),
                {
                    "watermark": self.watermark,
                    "dim": self.dim,
                    "store_id": self.store_id,
                    "pages": len(self.graph),
                    "usearch": usearch.__version__,
                },
            )
            self.saved = self.watermark
            return True

    def behind_file(self) -> int:
        """Log entries this process holds that the file does not."""
        return self.watermark - max(self.saved, 0) if self.saved >= 0 else self.watermark + 1

    # -- search --------------------------------------------------------------------------
    def top(
        self, conn: sqlite3.Connection, vector: list[float], filters: Filters, k: int
    ) -> list[tuple[int, float]]:
        """(rowid, exact cosine) of the k nearest visible pages, best first (ties: rowid)."""
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.dim,):
            raise ValueError(f"query vector has {query.size} dims, the store holds {self.dim}")
        norm = float(np.linalg.norm(query))
        total = len(self.graph)
        if norm == 0 or total == 0 or k <= 0:
            return []
        query = query / norm
        mask, count = None, total
        if not self.rows.selects_all(filters):
            mask, count = self._visible_rows(filters)
            if count == 0:
                return []
        k = min(k, count)
        # few visible pages (or not many more than asked for): scanning them is exact and cheap
        narrow = count <= k + _margin(k) or (mask is not None and count <= EXACT_ROWS)
        found = None if narrow else self._search(query, mask, count, total, k)
        if found is None:  # narrow, or a filter hiding most of what the graph search can ask for
            found = self._scan(query, np.flatnonzero(self.rows.present if mask is None else mask))
        keys, approx = found
        return self._rescored(conn, query, keys, approx, k)

    def _visible_rows(self, filters: Filters) -> tuple[npt.NDArray[np.bool_], int]:
        groups = None if filters.groups is None else tuple(sorted(set(filters.groups)))
        key = (filters.collection, filters.doc_id, filters.language, groups)
        with self._lock:
            cached = self._visible.get(key)
            if cached is None:
                mask = self.rows.visible(filters)
                cached = self._visible[key] = (mask, int(mask.sum()))
        return cached

    def _search(
        self,
        query: npt.NDArray[np.float32],
        mask: npt.NDArray[np.bool_] | None,
        count: int,
        total: int,
        k: int,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
        """The graph's nearest visible pages (at least k unless fewer exist), with f16 scores;
        None when a filter hides too many of the MAX_COUNT nearest."""
        want = k + _margin(k)
        asked = want if mask is None else math.ceil(want * total / count * 1.2)
        while True:
            asked = min(max(asked, want), MAX_COUNT, total)
            with self._lock:
                matches = self.graph.search(query, asked, threads=1)
            keys = np.asarray(matches.keys, dtype=np.int64)
            approx = 1.0 - np.asarray(matches.distances, dtype=np.float64)
            if mask is not None:
                ok = mask[np.minimum(keys, mask.size - 1)] & (keys < mask.size)
                keys, approx = keys[ok], approx[ok]
            if keys.size >= k or asked >= total:
                return keys, approx
            if asked >= MAX_COUNT:
                return None
            asked *= 4

    def _scan(
        self, query: npt.NDArray[np.float32], rowids: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Every one of `rowids` scored on its f16 copy in the graph."""
        with self._lock:
            found = self.graph.get(rowids.astype(np.uint64), dtype="f16")
        # one array per key (None for a key the graph lacks: none, once caught up)
        blobs: list[npt.NDArray[np.float16]] = [v for v in cast(tuple[Any, ...], found) if v is not None]
        keys = rowids[[v is not None for v in cast(tuple[Any, ...], found)]]
        if not blobs:
            return keys, np.zeros(0)
        vectors = np.frombuffer(b"".join(v.tobytes() for v in blobs), dtype=np.float16)
        scores = vectors.reshape(len(blobs), self.dim).astype(np.float64) @ query.astype(np.float64)
        return keys, scores

    def _rescored(
        self,
        conn: sqlite3.Connection,
        query: npt.NDArray[np.float32],
        keys: npt.NDArray[np.int64],
        approx: npt.NDArray[np.float64],
        k: int,
    ) -> list[tuple[int, float]]:
        """The k best of `keys` by exact float32 cosine, read from the `vectors` table.

        Only rows that could be among the k best are read: k rows score at least the k-th best
        f16 score A, so exactly at least A - F16_ERROR; a row whose f16 score is below
        A - 2 * F16_ERROR scores exactly below that and cannot be."""
        if keys.size > k:
            kth = float(np.partition(approx, approx.size - k)[approx.size - k])
            keys = keys[approx >= kth - 2 * F16_ERROR]
        rowids, exact = self._exact(conn, keys, query)
        order = np.lexsort((rowids, -exact))[:k]
        return list(zip(rowids[order].tolist(), exact[order].tolist(), strict=True))

    def _exact(
        self, conn: sqlite3.Connection, keys: npt.NDArray[np.int64], query: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        rows = [
            row
            for chunk in _chunks(keys.tolist())
            for row in _tuples(
                conn,
                f"SELECT rowid, embedding FROM vectors WHERE rowid IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            if len(row[1]) == 4 * self.dim
        ]  # a row deleted since the last catch-up is gone: dropped, as build_hits drops it
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        matrix = _rows_normalised([r[1] for r in rows], self.dim)
        return np.array([r[0] for r in rows], dtype=np.int64), matrix @ query
