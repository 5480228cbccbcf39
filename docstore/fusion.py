"""How the hybrid mode fuses a BM25 ranking and a kNN ranking, shared by both store backends.

Convex combination of min-max-normalised scores: each list's scores are mapped onto [0, 1] per
query (its best page 1, its last 0), and a page scores LEXICAL_SHARE × its BM25 value plus the
rest × its kNN value, a page absent from a list taking that list's lowest (0). The BM25 list is
normalised over a fixed depth (at least FUSION_MIN_DEPTH pages); the kNN list goes at least
KNN_MIN_DEPTH deep and twice the window asked for (offset + top_k), so a window of up to 25 hits
(a page of results, the next page) is ranked alike whatever its size, and the rerank depth's 50
fuse a kNN list 100 deep. The kNN list is the one whose depth costs: an HNSW search does work in
proportion to its k (OpenSearch's Lucene HNSW at 100k pages: the kNN search alone at k 200 took
longer than a whole hybrid search at k 20), where BM25's top 200 costs little more than its top 20.

Chosen on three test collections with human judgments (CISI, MED, CACM; scripts/eval_relevance.py
--fusion-study), leave-one-collection-out: the share picked on two collections scored on the
third. Convex min-max (shares 0.6-0.7 picked, 0.65 best over all three) met the target on every
collection and both stores; weighted reciprocal-rank fusion (RRF, the previous fusion) did not
under any k or weight: on CACM, whose pages are mostly titles and where the default embedder
ranks far below BM25, RRF's fixed rank weights let weak kNN ranks displace good BM25 ones (0.98×
the BM25 anchor's nDCG@10), while the score gaps of the normalised lists keep them apart
(1.04-1.05×). Normalised over only 100 pages per list, CACM's recall@50 fell from 1.08× to 1.04×
the anchor's, hence the BM25 list's fixed depth; a kNN list of 50 for the top 10 (and 100 for the
top 50) scored as the 200-deep one did on all three collections (within 0.005 of nDCG@10 and
recall@50), where one of 20 lost up to 0.02 of nDCG@10 (BENCHMARKS.md, "First-stage relevance",
where each metric is read from searches of its own window).

`rrf_fuse` stays for the OpenSearch search pipeline's hybrid queries, which OpenSearch fuses by
RRF with the same k (docstore.opensearch.ml_reranker)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

Id = TypeVar("Id", str, int)  # page ids (OpenSearch) or SQLite rowids

LEXICAL_SHARE = 0.65  # the BM25 list's share of a fused score; the kNN list has the rest
RRF_K = 15  # reciprocal-rank fusion's k (the search pipeline's hybrid queries)

# How deep each list goes: the BM25 list at least FUSION_MIN_DEPTH (its normalisation depth), the
# kNN list at least KNN_MIN_DEPTH, each twice the window the caller asked for beyond that, at most
# FUSION_MAX_DEPTH. The kNN list is the costly one (an HNSW search's work grows with its k), and a
# shallower one loses nothing measurable for the windows people ask for (see the module docstring).
FUSION_MIN_DEPTH = 200
KNN_MIN_DEPTH = 50
FUSION_MAX_DEPTH = 2000


def fusion_depth(want: int) -> int:
    """How deep the BM25 ranking goes for a fused window ending at `want` (offset + top_k)."""
    return min(FUSION_MAX_DEPTH, max(FUSION_MIN_DEPTH, 2 * want))


def knn_depth(want: int) -> int:
    """How deep the kNN ranking goes for a fused window ending at `want`."""
    return min(FUSION_MAX_DEPTH, max(KNN_MIN_DEPTH, 2 * want))


def min_max(scored: Sequence[tuple[Id, float]]) -> dict[Id, float]:
    """Scores mapped onto [0, 1]: the best 1, the lowest 0; all 1 when they are all equal. A page
    listed twice keeps its first (best) score."""
    if not scored:
        return {}
    values = [s for _, s in scored]
    low, high = min(values), max(values)
    span = high - low
    normalised: dict[Id, float] = {}
    for page, score in scored:
        if page not in normalised:
            normalised[page] = (score - low) / span if span > 0 else 1.0
    return normalised


def fuse_hybrid(
    lexical: Sequence[tuple[Id, float]], dense: Sequence[tuple[Id, float]] | None
) -> list[tuple[Id, float]]:
    """The hybrid mode's fusion of a BM25 ranking and a kNN ranking, each (id, score) best first
    (dense None: no vectors to search, and the BM25 list alone ranks). Ties are broken by the
    best rank a page reached in either list, then by its id, so the same inputs always give the
    same order.

    Runs on every hybrid search, over a few hundred pages: one pass per list for the scores and one
    for the ranks, and the order sorted on plain tuples rather than through a key function."""
    share = LEXICAL_SHARE if dense is not None else 1.0
    fused: dict[Id, float] = {}
    best_rank: dict[Id, int] = {}
    for ranking, weight in ((lexical, share), (dense or (), 1.0 - share)):
        for page, value in min_max(ranking).items():
            fused[page] = fused.get(page, 0.0) + weight * value
        for rank, (page, _) in enumerate(ranking):
            if page not in best_rank or rank < best_rank[page]:
                best_rank[page] = rank
    order = sorted([(-score, best_rank[page], page) for page, score in fused.items()])
    return [(page, -negated) for negated, _, page in order]


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
