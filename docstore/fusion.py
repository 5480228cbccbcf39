"""Reciprocal-rank fusion (RRF) of ranked id lists, shared by both store backends.

RRF needs no score calibration between BM25 and cosine similarity: each list contributes
1 / (k + rank) per id, so it fuses lexical and vector rankings whose scores live on
different scales. k=60 is the value from the original paper (Cormack et al., 2009)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

Id = TypeVar("Id", str, int)  # page ids (OpenSearch) or SQLite rowids

# RRF depth per list: twice the window the caller asked for, at least 20, at most 2000, in both
# stores (so they fuse the same candidates). With k=60 ranks are flattened, so a page deep in
# both lists can outrank one high in a single list; twice the window covers the pages that
# usually make it, and OpenSearch's kNN cost grows steeply with k, so going deeper costs every
# query.
FUSION_MIN_DEPTH = 20
FUSION_MAX_DEPTH = 2000


def fusion_depth(want: int) -> int:
    """How deep each ranking goes for a fused window ending at `want` (offset + top_k)."""
    return min(FUSION_MAX_DEPTH, max(FUSION_MIN_DEPTH, 2 * want))


def rrf_fuse(rankings: Sequence[Sequence[Id]], k: int = 60) -> list[tuple[Id, float]]:
    """Fuse id lists (each best first) into one list of (id, score), best first.

    Ties are broken deterministically: by the best rank the id reached in any list, then by
    the id itself, so the same inputs always give the same order."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    scores: dict[Id, float] = {}
    best_rank: dict[Id, int] = {}
    for ranking in rankings:
        seen: set[Id] = set()
        for rank, doc_id in enumerate(ranking, start=1):
            if doc_id in seen:  # a duplicate within one list counts once, at its best rank
                continue
            seen.add(doc_id)
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
            best_rank[doc_id] = min(best_rank.get(doc_id, rank), rank)
    return sorted(scores.items(), key=lambda item: (-item[1], best_rank[item[0]], item[0]))
