"""Search contract: BM25, kNN and hybrid rank alike on every backend, with filters applied
inside the query (a hidden page never appears, top_k still fills with visible pages)."""

from __future__ import annotations

import pytest

from docstore.protocol import Store
from docstore.schema import Filters, SearchMode, SearchRequest
from tests.contract.helpers import MODES, add, ids, page, unit


def test_bm25_ranks_by_term_matches_and_weights_titles(store: Store) -> None:
    add(
        store,
        [
            page("both", 1, "solar panels convert solar energy", title="Solar power"),
            page("body", 1, "the roof has solar panels among many other things on it today"),
            page("title", 1, "installation guide for roofs", title="Solar"),
            page("none", 1, "wind turbines and water"),
        ],
    )
    ranked = ids(store, "solar")
    assert ranked[0] == "both:1"
    assert set(ranked) == {"both:1", "body:1", "title:1"}
    assert ranked.index("title:1") < ranked.index("body:1")  # a title match outweighs one in the body
    hits = store.search(SearchRequest(query="solar", mode=SearchMode.bm25))
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score >= hits[1].score >= hits[2].score > 0


def test_knn_ranks_by_cosine(store: Store) -> None:
    add(
        store,
        [
            page("x", 1, "a", vector=unit(1, 0)),
            page("xy", 1, "b", vector=unit(1, 1)),
            page("y", 1, "c", vector=unit(0, 1)),
            page("z", 1, "d", vector=unit(0, 0, 1)),
        ],
    )
    hits = store.search(SearchRequest(vector=unit(1, 0.2), mode=SearchMode.knn, top_k=3))
    assert [h.page.page_id for h in hits] == ["x:1", "xy:1", "y:1"]
    assert hits[0].score > hits[1].score > hits[2].score
    assert hits[0].page.embedding is None and hits[0].page.image is None  # hits stay light
    with pytest.raises(ValueError):
        store.search(SearchRequest(query="a", mode=SearchMode.knn))


def test_hybrid_fuses_both_rankings(store: Store) -> None:
    add(
        store,
        [
            page("lex", 1, "quantum computing qubits", vector=unit(0, 0, 1)),
            page("both", 1, "quantum error correction for quantum bits", vector=unit(1, 0.1)),
            page("vec", 1, "unrelated words only", vector=unit(1, 0)),
            page("neither", 1, "gardening tips", vector=unit(0, 1)),
        ],
    )
    hits = store.search(SearchRequest(query="quantum", vector=unit(1, 0), mode=SearchMode.hybrid, top_k=3))
    ranked = [h.page.page_id for h in hits]
    assert ranked[0] == "both:1"  # high in both lists
    assert set(ranked) == {"both:1", "lex:1", "vec:1"}
    # fused scores lie in [0, 1]: the page best in both lists near 1, a list's last page 0 in it
    assert 1 >= hits[0].score > hits[1].score >= hits[2].score >= 0


@pytest.mark.parametrize("mode", MODES)
def test_filters_apply_inside_the_query(store: Store, mode: SearchMode) -> None:
    add(
        store,
        [
            page("a", 1, "report budget", collection="finance", language="en", vector=unit(1, 0)),
            page("b", 1, "report budget", collection="finance", language="de", vector=unit(1, 0.1)),
            page("c", 1, "report budget", collection="hr", language="en", vector=unit(1, 0.2)),
        ],
    )
    vec = unit(1, 0)
    assert set(ids(store, "report", mode, vector=vec, filters={"collection": "finance"})) == {"a:1", "b:1"}
    assert ids(store, "report", mode, vector=vec, filters={"doc_id": "c"}) == ["c:1"]
    assert set(ids(store, "report", mode, vector=vec, filters={"language": "en"})) == {"a:1", "c:1"}
    assert ids(store, "report", mode, vector=vec, filters={"collection": "nope"}) == []


@pytest.mark.parametrize("mode", MODES)
def test_acl_hides_pages_and_top_k_still_fills(store: Store, mode: SearchMode) -> None:
    # The hidden pages match best (more term hits, closer vectors): filtering after a top-k
    # would return fewer than k visible hits, or leak them.
    hidden = [
        page(f"h{i}", 1, "merger merger merger plan", acl=["board"], vector=unit(1, 0.01 * i))
        for i in range(12)
    ]
    visible = [
        page(f"v{i}", 1, "merger plan and many other words here", vector=unit(1, 1 + i)) for i in range(6)
    ]
    shared = [page("s", 1, "merger plan merger", acl=["board", "staff"], vector=unit(1, 0.5))]
    add(store, hidden + visible + shared)
    vec = unit(1, 0)
    for groups in ([], ["staff"], ["nobody"]):
        got = ids(store, "merger", mode, vector=vec, top_k=5, filters={"groups": groups})
        assert len(got) == 5
        assert not any(pid.startswith("h") for pid in got)
        assert ("s:1" in got) == (groups == ["staff"])
    everything = ids(store, "merger", mode, vector=vec, top_k=50)
    assert len(everything) == 19
    board = ids(store, "merger", mode, vector=vec, top_k=50, filters={"groups": ["board"]})
    assert len(board) == 19
    assert store.count(Filters(groups=["staff"])) == 7


@pytest.mark.parametrize("mode", MODES)
def test_offset_pages_through_results(store: Store, mode: SearchMode) -> None:
    add(
        store,
        [
            page(f"p{i:02d}", 1, "term " * (i + 1) + "filler " * 10, vector=unit(1, 0.1 * i))
            for i in range(10)
        ],
    )
    vec = unit(1, 0)
    full = store.search(SearchRequest(query="term", vector=vec, mode=mode, top_k=6))
    first = store.search(SearchRequest(query="term", vector=vec, mode=mode, top_k=3))
    second = store.search(SearchRequest(query="term", vector=vec, mode=mode, top_k=3, offset=3))
    assert [h.page.page_id for h in first + second] == [h.page.page_id for h in full]
    assert [h.rank for h in second] == [4, 5, 6]


def test_cjk_and_arabic_are_searchable(store: Store) -> None:
    add(
        store,
        [
            page("zh", 1, "北京大学图书馆的开放时间", language="zh"),
            page("ja", 1, "東京都の天気予報によると明日は雨です", language="ja"),
            page("ko", 1, "서울 지하철 노선도", language="ko"),
            page("ar", 1, "تقع مكتبة الإسكندرية في مصر", language="ar"),
            page("en", 1, "a library in London", language="en"),
        ],
    )
    assert ids(store, "大学") == ["zh:1"]
    assert ids(store, "图书馆") == ["zh:1"]
    assert ids(store, "天気予報") == ["ja:1"]
    assert ids(store, "東京") == ["ja:1"]
    assert ids(store, "지하철") == ["ko:1"]
    assert ids(store, "مكتبة") == ["ar:1"]
    assert ids(store, "مصر") == ["ar:1"]


def test_snippets_mark_matched_terms(store: Store) -> None:
    add(store, [page("s", 1, "Intro text. The <Reranker> scores every candidate page. More text.")])
    (hit,) = store.search(SearchRequest(query="reranker candidate", mode=SearchMode.bm25))
    assert "<mark>Reranker</mark>" in hit.snippet and "<mark>candidate</mark>" in hit.snippet
    assert "&lt;" in hit.snippet  # the page's own markup is escaped


WEIRD_QUERIES = ['"', '"unbalanced', "AND", "a AND OR NOT b", "*", "title:foo", "(x", "NEAR(a b)", "-x", "^",
                 "\\", "😀 emoji", "ﬁle ligature", "x" * 5000, "  ", "{}[]", "東京\"AND"]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_weird_queries_never_raise(store: Store, mode: SearchMode) -> None:
    add(store, [page("w", 1, "AND or NOT title foo file emoji 😀 東京")])
    for query in WEIRD_QUERIES:
        hits = store.search(SearchRequest(query=query, vector=unit(1, 0), mode=mode, top_k=5))
        assert all(h.page.page_id == "w:1" for h in hits), query
    assert ids(store, "AND") == ["w:1"]  # operators are searched as words


def test_search_on_an_empty_store_returns_nothing(store: Store) -> None:
    store.ensure(8)
    for mode in MODES:
        assert store.search(SearchRequest(query="anything", vector=unit(1, 0), mode=mode)) == []
