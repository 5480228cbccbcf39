"""scripts/eval_relevance.py's query-time settings reach both real stores' searches, and its
leave-one-collection-out choice of them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from docstore import analysis, fusion
from docstore.protocol import Store
from docstore.schema import SearchMode, SearchRequest
from tests.contract.helpers import add, page, unit

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
_THREADS = os.environ.get("OMP_NUM_THREADS")
import eval_relevance as ev  # noqa: E402

if _THREADS is None:  # the script pins its own process to one thread, not the test run's
    os.environ.pop("OMP_NUM_THREADS", None)


def _top(store: Store, query: str, mode: SearchMode) -> tuple[str, float]:
    vector = unit(0, 1) if mode != SearchMode.bm25 else None
    hits = store.search(SearchRequest(query=query, vector=vector, mode=mode, top_k=5, snippets=False))
    assert hits, f"{query!r} found nothing"
    return hits[0].page.page_id, hits[0].score


def test_settings_reach_the_stores_searches_and_are_restored(store: Store) -> None:
    # "m" is the kNN list's best, "d" and "s" its lowest; "libraries" is on "d" alone
    add(store, [page("d", text="Libraries lend books to readers.", vector=unit(1, 0)),
                page("m", text="Museums keep paintings.", vector=unit(0, 1)),
                page("s", text="Schools teach children.", vector=unit(1, 0))])  # fmt: skip
    if hasattr(store, "refresh"):
        store.refresh()
    default = ev.current_setting()
    # "library" shares only its stem with "libraries": the page's BM25 score is the stemmed field's alone
    stem_only = _top(store, "library", SearchMode.bm25)[1]
    # normalised, "d" scores 1 in the BM25 list and 0 in the kNN list, "m" the reverse
    assert _top(store, "libraries", SearchMode.hybrid) == ("d:1", pytest.approx(default.share))
    changed = ev.Setting(share=0.3, stem=default.stem / 2)
    with ev.query_settings(changed):
        assert _top(store, "library", SearchMode.bm25)[1] == pytest.approx(stem_only / 2)
        assert _top(store, "libraries", SearchMode.hybrid) == ("m:1", pytest.approx(0.7))
    assert ev.current_setting() == default
    assert _top(store, "library", SearchMode.bm25)[1] == pytest.approx(stem_only)
    assert _top(store, "libraries", SearchMode.hybrid) == ("d:1", pytest.approx(default.share))


def test_the_setting_chosen_on_the_other_collections_is_the_one_scored_on_the_held_out_one() -> None:
    a, b, c = ev.Setting(0.55, 1.0), ev.Setting(0.65, 2.0), ev.Setting(0.75, 2.0)
    objectives = {
        "x": {a: 1.10, b: 1.00, c: 1.04},
        "y": {a: 0.90, b: 1.02, c: 1.04},
        "z": {a: 1.30, b: 1.00, c: 0.90},  # z alone would pick a
    }
    assert ev.best_setting(objectives, ["x", "y"], [a, b, c]) == c  # means 1.00, 1.01, 1.04
    assert ev.best_setting(objectives, ["y", "z"], [a, b, c]) == a  # 1.10, 1.01, 0.97
    assert ev.best_setting(objectives, ["z"], [b, a, c]) == a
    tied = {"x": {a: 1.0, b: 1.0, c: 0.5}}
    assert ev.best_setting(tied, ["x"], [b, a, c]) == b  # a tie goes to the one listed first


def test_the_study_reproduces_the_stores_fusion_and_fills_a_missing_score_with_the_lists_lowest() -> None:
    lexical = [("a", 9.0), ("b", 5.0), ("c", 1.0)]
    dense = [("c", 0.9), ("d", 0.8), ("a", 0.1)]
    store = ev.store_fusion()
    assert (store.norm, store.alpha) == ("minmax", fusion.LEXICAL_SHARE)
    # at 0.65: a 0.65, c 0.35, b 0.325 (absent from the kNN list: its lowest, 0), d 0.30625
    assert (
        store.ranking(lexical, dense)
        == [doc for doc, _ in fusion.fuse_hybrid(lexical, dense)]
        == ["a", "c", "b", "d"]
    )
    one = [("b", 4.0)]  # a list of one: min-max makes it 1, and the pages it lacks still get 0
    assert (
        store.ranking(one, dense)
        == [doc for doc, _ in fusion.fuse_hybrid(one, dense)]
        == ["b", "c", "d", "a"]
    )
    # all three tie at 0.5 under an even share; ties go to the best rank reached, then the id
    tie_lex, tie_dense = [("b", 2.0), ("a", 1.0), ("c", 0.0)], [("c", 2.0), ("a", 1.0), ("b", 0.0)]
    with ev.query_settings(ev.Setting(share=0.5, stem=analysis.STEM_WEIGHT)):
        fused = [doc for doc, _ in fusion.fuse_hybrid(tie_lex, tie_dense)]
    assert (
        ev.Fusion(store.family, alpha=0.5, norm="minmax").ranking(tie_lex, tie_dense)
        == fused
        == ["b", "c", "a"]
    )
    assert ev.Fusion("rrf", 15, 1.0, cut=1).ranking(lexical, dense) == ["c", "a", "b"]  # only c counts in kNN
    assert ev.normalised(lexical, "minmax") == {"a": 1.0, "b": 0.5, "c": 0.0}
    z = ev.normalised(lexical, "zscore")
    assert sum(z.values()) == pytest.approx(0.0)
    assert ev.normalised(lexical, "dbsf")["a"] == pytest.approx((z["a"] + 3) / 6)
    # z-score, lexical weight 0.5: a document absent from a list gets that list's lowest, or 0
    zero = ev.Fusion("convex", alpha=0.5, norm="zscore", missing="0")
    assert ev.Fusion("convex", alpha=0.5, norm="zscore").ranking(lexical, dense) != zero.ranking(
        lexical, dense
    )
