"""Exact cosine kNN over an in-memory matrix of every page's embedding.

The matrix and the filter columns are loaded once and reused until the store's `generation`
changes (any write, from any process). Filters become a boolean mask applied before top-k, so
a filtered query still returns k visible pages. 100k × 512 float32 is ~200 MB and one matvec
over it takes a few ms."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from docstore.schema import Filters


@dataclass
class VectorIndex:
    generation: str
    rowids: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]  # (n, dim), rows L2-normalised, zero rows for pages without one
    has_vector: npt.NDArray[np.bool_]
    # collection, doc_id, language per row as integer codes (comparing ints is ~10x faster)
    codes: dict[str, npt.NDArray[np.int32]]
    vocab: dict[str, dict[str, int]]
    public: npt.NDArray[np.bool_]
    group_rows: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: sqlite3.Connection, generation: str, dim: int) -> VectorIndex:
        rows = conn.execute(
            "SELECT p.rowid, p.collection, p.doc_id, p.language, p.acl, p.public, v.embedding"
            " FROM pages p JOIN vectors v ON v.rowid = p.rowid ORDER BY p.rowid"
        ).fetchall()
        n = len(rows)
        matrix = np.zeros((n, dim), dtype=np.float32)
        has_vector = np.zeros(n, dtype=bool)
        members: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            blob = row[6]
            if blob is not None and len(blob) == 4 * dim:
                matrix[i] = np.frombuffer(blob, dtype=np.float32)
                has_vector[i] = True
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
        return cls(
            generation=generation,
            rowids=np.array([r[0] for r in rows], dtype=np.int64),
            matrix=matrix,
            has_vector=has_vector,
            codes=codes,
            vocab=vocab,
            public=np.array([bool(r[5]) for r in rows], dtype=bool),
            group_rows={g: np.array(ix, dtype=np.int64) for g, ix in members.items()},
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

    def top(self, vector: list[float], filters: Filters, k: int) -> list[tuple[int, float]]:
        """(rowid, cosine) of the k nearest visible pages, best first."""
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.matrix.shape[1],):
            raise ValueError(f"query vector has {query.size} dims, the store holds {self.matrix.shape[1]}")
        norm = float(np.linalg.norm(query))
        if norm == 0 or len(self.rowids) == 0:
            return []
        scores = self.matrix @ (query / norm)  # (n,)
        mask = self.mask(filters)
        candidates = np.flatnonzero(mask)
        if candidates.size == 0:
            return []
        cand_scores = scores[candidates]
        k = min(k, candidates.size)
        part = np.argpartition(-cand_scores, k - 1)[:k]
        # stable order: score desc, then rowid asc for ties
        order = part[np.lexsort((self.rowids[candidates[part]], -cand_scores[part]))]
        return [(int(self.rowids[candidates[i]]), float(cand_scores[i])) for i in order]
