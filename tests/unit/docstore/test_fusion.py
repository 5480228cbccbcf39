from docstore.fusion import rrf_fuse


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
