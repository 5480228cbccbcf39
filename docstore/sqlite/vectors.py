"""Exact cosine kNN over an in-memory matrix of every page's embedding.

The matrix and the filter columns are loaded once and reused until the store's `generation`
changes (any write, from any process). Filters become an array of candidate row positions
applied before top-k, so a filtered query still returns k visible pages. Those arrays are
cached per filter combination (a small LRU that dies with the index, i.e. on any write), so a
repeated filter costs nothing. The matrix is one C-contiguous float32 block: a small store's query
is a single matvec plus an O(n) argpartition. From QUANTIZE_MIN_ROWS rows on, an int8 copy is
scanned instead (a quarter of the bytes: 100k x 384 float32 is 150 MB per query, memory-bound)
and the best candidates are rescored in float32, still returning the exact top-k (sqlite_int8)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cachetools
import numpy as np
import numpy.typing as npt

from docstore.schema import Filters
from docstore.sqlite.int8 import Int8Matrix, exact_candidates

# below this many rows to score, the float32 matvec is already a few ms and the int8 pass (a
# Python loop over row blocks plus the rescoring) would not pay for itself.
# FOLIO_KNN_INT8_MIN_ROWS overrides (a huge value keeps every store on the float32 scan).
QUANTIZE_MIN_ROWS = int(os.environ.get("FOLIO_KNN_INT8_MIN_ROWS", "20000"))
CANDIDATE_CACHE = 64  # filter combinations kept per index (each at most n int64 positions)


@lru_cache(maxsize=1)
def single_thread_blas() -> None:
    """Run numpy's OpenBLAS on one thread (once per process; FOLIO_KNN_BLAS_THREADS overrides).

    A matvec is memory-bound, so extra BLAS threads barely speed up one query, and searches
    already run in parallel on the server's thread pool. Worse, OpenBLAS threads spin-wait, so on a
    busy machine a second thread makes a matvec several times slower, not faster.
    Only numpy's OpenBLAS is touched (torch's own BLAS and OpenMP pools are not)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it numpy keeps its default
        return
    threads = int(os.environ.get("FOLIO_KNN_BLAS_THREADS", "1"))
    ThreadpoolController().select(internal_api="openblas").limit(limits=threads)


@dataclass
class VectorIndex:
    generation: str
    rowids: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]  # (n, dim), rows L2-normalised, zero rows for pages without one
    has_vector: npt.NDArray[np.bool_]
    # collection, doc_id, language per row as integer codes (comparing ints is much faster than strings)
    codes: dict[str, npt.NDArray[np.int32]]
    vocab: dict[str, dict[str, int]]
    public: npt.NDArray[np.bool_]
    group_rows: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    quantized: Int8Matrix | None = None  # int8 copy, only for stores of QUANTIZE_MIN_ROWS or more
    # filter key -> candidate row positions (None: every row is a candidate)
    _candidates: cachetools.LRUCache[tuple[object, ...], npt.NDArray[np.int64] | None] = field(
        default_factory=lambda: cachetools.LRUCache(maxsize=CANDIDATE_CACHE)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, conn: sqlite3.Connection, generation: str, dim: int) -> VectorIndex:
        rows = conn.execute(
            "SELECT p.rowid, p.collection, p.doc_id, p.language, p.acl, p.public, v.embedding"
            " FROM pages p JOIN vectors v ON v.rowid = p.rowid ORDER BY p.rowid"
        ).fetchall()
        return cls.from_rows(rows, generation, dim)

    @classmethod
    def from_rows(cls, rows: list[tuple[Any, ...]], generation: str, dim: int) -> VectorIndex:
        """Rows of (rowid, collection, doc_id, language, acl JSON, public, float32 blob)."""
        single_thread_blas()
        n = len(rows)
        width = 4 * dim
        has_vector = np.array([r[6] is not None and len(r[6]) == width for r in rows], dtype=bool)
        zero = bytes(width)
        # one join of the blobs, then one reshape: no per-row numpy calls
        joined = b"".join(r[6] if ok else zero for r, ok in zip(rows, has_vector, strict=True))
        matrix = np.frombuffer(joined, dtype=np.float32).reshape(n, dim).copy()
        members: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            if row[4] != "[]":
                for group in json.loads(row[4]):
                    members.setdefault(group, []).append(i)
        codes: dict[str, npt.NDArray[np.int32]] = {}
        vocab: dict[str, dict[str, int]] = {}
        for name, col in (("collection", 1), ("doc_id", 2), ("language", 3)):
            words: dict[str, int] = {}
            codes[name] = np.array([words.setdefault(r[col], len(words)) for r in rows], dtype=np.int32)
            vocab[name] = words
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms == 0, 1.0, norms)
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        return cls(
            generation=generation,
            rowids=np.array([r[0] for r in rows], dtype=np.int64),
            matrix=matrix,
            has_vector=has_vector,
            codes=codes,
            vocab=vocab,
            public=np.array([bool(r[5]) for r in rows], dtype=bool),
            group_rows={g: np.array(ix, dtype=np.int64) for g, ix in members.items()},
            quantized=Int8Matrix.quantize(matrix) if n >= QUANTIZE_MIN_ROWS else None,
        )

    def mask(self, filters: Filters) -> npt.NDArray[np.bool_]:
        mask = self.has_vector.copy()
        for name in ("collection", "doc_id", "language"):
            wanted = getattr(filters, name)
            if wanted is not None:
                mask &= self.codes[name] == self.vocab[name].get(wanted, -1)
        if filters.groups is not None:
            visible = self.public.copy()
            for group in filters.groups:
                rows = self.group_rows.get(group)
                if rows is not None:
                    visible[rows] = True
            mask &= visible
        return mask

    def candidates(self, filters: Filters) -> npt.NDArray[np.int64] | None:
        """Row positions that pass `filters` (None: all rows), cached per filter combination."""
        groups = None if filters.groups is None else tuple(sorted(set(filters.groups)))
        key = (filters.collection, filters.doc_id, filters.language, groups)
        with self._lock:
            if key in self._candidates:
                return self._candidates[key]  # a read refreshes the key's place
        mask = self.mask(filters)
        found = None if bool(mask.all()) else np.flatnonzero(mask)
        with self._lock:
            self._candidates[key] = found
        return found

    def top(self, vector: list[float], filters: Filters, k: int) -> list[tuple[int, float]]:
        """(rowid, cosine) of the k nearest visible pages, best first."""
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.matrix.shape[1],):
            raise ValueError(f"query vector has {query.size} dims, the store holds {self.matrix.shape[1]}")
        norm = float(np.linalg.norm(query))
        if norm == 0 or len(self.rowids) == 0:
            return []
        query /= norm
        candidates = self.candidates(filters)
        n = len(self.rowids)
        if candidates is not None and candidates.size == 0:
            return []
        count = n if candidates is None else candidates.size
        if self.quantized is not None and count >= QUANTIZE_MIN_ROWS:
            approx, query_error = self.quantized.scores(query, candidates)
            k = min(k, count)
            rows, scores = exact_candidates(
                self.matrix, self.quantized, query, approx, candidates, k, query_error
            )
            part = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
            return self._ranked(rows[part], scores[part])
        if candidates is None:
            scores = self.matrix @ query  # (n,)
            positions = None
        elif candidates.size * 4 < n:  # a narrow filter: score only its rows
            scores = self.matrix[candidates] @ query
            positions = candidates
        else:
            scores = (self.matrix @ query)[candidates]
            positions = candidates
        k = min(k, scores.size)
        part = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        rows = part if positions is None else positions[part]
        return self._ranked(rows, scores[part])

    def _ranked(
        self, rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float32]
    ) -> list[tuple[int, float]]:
        # stable order: score desc, then rowid asc for ties
        order = np.lexsort((self.rowids[rows], -scores))
        return list(zip(self.rowids[rows[order]].tolist(), scores[order].tolist(), strict=True))
