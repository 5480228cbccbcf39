"""Reciprocal-rank fusion (RRF) of ranked id lists, shared by both store backends.

RRF needs no score calibration between BM25 and cosine similarity: each list contributes
weight / (k + rank) per id, so it fuses lexical and vector rankings whose scores live on
different scales. The hybrid mode's constants were chosen on CISI's judged queries
(scripts/eval_relevance.py) and are the same for every query: k = 15 rather than the paper's 60
(Cormack et al., 2009), so a page's rank within a list still matters, and the dense list weighs
0.8 of the lexical one, since the default embedder ranks below BM25 on its own. With k = 60 and
equal weights, hybrid scored 1.02× plain BM25 on nDCG@10 and 1.00× on recall@50 (SQLite). Over
k = 8-20 and dense weights 0.75-0.9 hybrid's recall@50 stayed within 1.094-1.105× of the anchor
BM25 on both stores, a plateau as wide as the noise of 76 queries; these constants gave the best
nDCG@10 and recall@50 on both stores of that grid (BENCHMARKS.md, "First-stage relevance")"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

Id = TypeVar("Id", str, int)  # page ids (OpenSearch) or SQLite rowids

RRF_K = 15
LEXICAL_WEIGHT = 1.0
DENSE_WEIGHT = 0.8

# RRF depth per list: twice the window the caller asked for, at least 20, at most 2000, in both
# stores (so they fuse the same candidates). A page deep in both lists can outrank one high in a
# single list; twice the window covers the pages that usually make it, and OpenSearch's kNN cost
# grows steeply with k, so going deeper costs every query.
FUSION_MIN_DEPTH = 20
FUSION_MAX_DEPTH = 2000


def fusion_depth(want: int) -> int:
    """How deep each ranking goes for a fused window ending at `want` (offset + top_k)."""
    return min(FUSION_MAX_DEPTH, max(FUSION_MIN_DEPTH, 2 * want))


def fuse_hybrid(lexical: Sequence[Id], dense: Sequence[Id] | None) -> list[tuple[Id, float]]:
    """The hybrid mode's fusion of a BM25 ranking and a kNN ranking (None: no vectors to search)."""
    if dense is None:
        return rrf_fuse([lexical], weights=[LEXICAL_WEIGHT])
    return rrf_fuse([lexical, dense], weights=[LEXICAL_WEIGHT, DENSE_WEIGHT])


def rrf_fuse(
    rankings: Sequence[Sequence[Id]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[Id, float]]:
    """Fuse id lists (each best first) into one list of (id, score), best first; `weights`, one
    per list, scale each list's contributions (default: all 1).

    Ties are broken deterministically: by the best rank the id reached in any list, then by
    the id itself, so the same inputs always give the same order."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings) or any(w <= 0 for w in weights):
        raise ValueError("weights must be one positive number per ranking")
    scores: dict[Id, float] = {}
    best_rank: dict[Id, int] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[Id] = set()
        for rank, doc_id in enumerate(ranking, start=1):
            if doc_id in seen:  # a duplicate within one list counts once, at its best rank
                continue
            seen.add(doc_id)
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
            best_rank[doc_id] = min(best_rank.get(doc_id, rank), rank)
    return sorted(scores.items(), key=lambda item: (-item[1], best_rank[item[0]], item[0]))
