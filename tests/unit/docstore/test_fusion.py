import pytest

from docstore.fusion import LEXICAL_SHARE, fuse_hybrid, min_max, rrf_fuse


def test_rrf_rewards_ids_ranked_high_in_both_lists() -> None:
    fused = rrf_fuse([["a", "b", "c"], ["c", "a", "d"]], k=60)
    ids = [doc_id for doc_id, _ in fused]
    assert ids == ["a", "c", "b", "d"]
    assert fused[0][1] == 1 / 61 + 1 / 62


def test_rrf_scores_are_descending_and_ties_are_deterministic() -> None:
    fused = rrf_fuse([["x", "y"], ["y", "x"]])
    assert fused[0][1] == fused[1][1]
    # equal score and equal best rank: the id decides, the same way every time
    assert [i for i, _ in fused] == ["x", "y"]
    assert rrf_fuse([["y", "x"], ["x", "y"]]) == fused


def test_rrf_handles_empty_and_duplicate_inputs() -> None:
    assert rrf_fuse([]) == []
    assert rrf_fuse([[], []]) == []
    fused = dict(rrf_fuse([["a", "a", "b"]], k=0))
    assert fused == {"a": 1.0, "b": 1 / 3}


def test_weights_scale_each_list_and_must_match_the_lists() -> None:
    fused = dict(rrf_fuse([["a", "b"], ["b", "a"]], k=0, weights=[1.0, 0.5]))
    assert fused == {"a": 1.0 + 0.5 / 2, "b": 1 / 2 + 0.5}
    with pytest.raises(ValueError):
        rrf_fuse([["a"], ["b"]], weights=[1.0])
    with pytest.raises(ValueError):
        rrf_fuse([["a"]], weights=[0.0])


def test_min_max_maps_each_list_onto_zero_to_one() -> None:
    assert min_max([("a", 12.0), ("b", 9.0), ("c", 6.0)]) == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert min_max([("a", 3.0), ("b", 3.0)]) == {"a": 1.0, "b": 1.0}  # all equal: all the best
    assert min_max([("a", 2.0), ("a", 1.0), ("b", 0.0)]) == {"a": 1.0, "b": 0.0}  # a repeat keeps its first
    assert min_max([]) == {}


def test_hybrid_is_a_convex_combination_of_the_normalised_lists() -> None:
    lexical = [("a", 10.0), ("b", 6.0), ("c", 2.0)]
    dense = [("c", 0.9), ("d", 0.8), ("a", 0.5)]
    fused = dict(fuse_hybrid(lexical, dense))
    rest = 1 - LEXICAL_SHARE
    assert fused["a"] == pytest.approx(LEXICAL_SHARE * 1.0 + rest * 0.0)
    assert fused["b"] == pytest.approx(LEXICAL_SHARE * 0.5)  # absent from the kNN list: its lowest, 0
    assert fused["c"] == pytest.approx(rest * 1.0)
    assert fused["d"] == pytest.approx(rest * 0.75)
    assert [i for i, _ in fuse_hybrid(lexical, dense)] == ["a", "c", "b", "d"]  # 0.65, 0.35, 0.325, 0.2625


def test_score_gaps_count_not_only_ranks() -> None:
    # BM25's second page is nearly as good as its first; the kNN list's first is barely ahead of
    # pages it shares with BM25's tail. Rank fusion would put the kNN list's first page second.
    lexical = [("a", 10.0), ("b", 9.8), ("c", 1.0), ("d", 0.0)]
    dense = [("x", 0.81), ("c", 0.80), ("d", 0.79)]
    assert [i for i, _ in fuse_hybrid(lexical, dense)][:2] == ["a", "b"]


def test_hybrid_without_vectors_is_the_bm25_ranking_and_ties_are_deterministic() -> None:
    assert fuse_hybrid([("a", 5.0), ("b", 1.0)], None) == [("a", 1.0), ("b", 0.0)]
    assert fuse_hybrid([], None) == [] and fuse_hybrid([], []) == []
    # equal fused scores: the better rank reached in either list decides, then the id
    tied = fuse_hybrid([("p", 1.0), ("q", 1.0)], [("q", 1.0), ("p", 1.0)])
    assert [i for i, _ in tied] == ["p", "q"]
    assert fuse_hybrid([("q", 1.0), ("p", 1.0)], [("p", 1.0), ("q", 1.0)]) == [(i, s) for i, s in tied]


def test_hybrid_scores_each_page_from_the_min_max_of_both_lists() -> None:
    # random lists with repeats and ties, scored against min_max and the ranks directly
    import random

    rng = random.Random(5)
    for _ in range(200):
        lexical = [(f"p{rng.randrange(30)}", float(rng.randrange(8))) for _ in range(rng.randrange(25))]
        lexical.sort(key=lambda item: -item[1])
        dense = [(f"p{rng.randrange(30)}", rng.random()) for _ in range(rng.randrange(25))]
        dense.sort(key=lambda item: -item[1])
        lex, vec = min_max(lexical), min_max(dense)
        pages = dict.fromkeys([p for p, _ in lexical] + [p for p, _ in dense])
        rank = {p: min([r for r, (q, _) in enumerate(lexical + dense) if q == p and r < len(lexical)]
                       + [r for r, (q, _) in enumerate(dense) if q == p]) for p in pages}  # fmt: skip
        want = sorted(
            ((p, LEXICAL_SHARE * lex.get(p, 0.0) + (1 - LEXICAL_SHARE) * vec.get(p, 0.0)) for p in pages),
            key=lambda item: (-item[1], rank[item[0]], item[0]),
        )
        assert fuse_hybrid(lexical, dense) == want
