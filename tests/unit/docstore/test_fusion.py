import pytest

from docstore.fusion import DENSE_WEIGHT, LEXICAL_WEIGHT, RRF_K, fuse_hybrid, rrf_fuse


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


def test_hybrid_weighs_the_lexical_list_above_the_dense_one() -> None:
    # disjoint lists: with the dense list at 0.8, the lexical second page still beats the dense first
    assert [i for i, _ in fuse_hybrid(["lex", "x"], ["dense", "y"])] == ["lex", "x", "dense", "y"]
    assert fuse_hybrid(["a", "b"], None) == rrf_fuse([["a", "b"]], k=RRF_K)
    score = dict(fuse_hybrid(["a"], ["a"]))["a"]
    assert score == LEXICAL_WEIGHT / (RRF_K + 1) + DENSE_WEIGHT / (RRF_K + 1)
