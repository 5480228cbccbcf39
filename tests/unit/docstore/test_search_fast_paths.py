"""The SQLite store's fast paths give the same answers as the plain computation: cached filter
candidates follow writes, the narrow-filter kNN path ranks like brute force, hits can come
without snippets, and the API's query-embedding cache returns what the embedder returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docstore.fusion import rrf_fuse
from docstore.schema import Filters, Page, SearchMode, SearchRequest
from docstore.sqlite import vectors as sqlite_vectors
from docstore.sqlite.store import SqliteStore
from docstore.sqlite.vectors import VectorIndex
from search_api.search_service import cached_embedder

DIM = 8


def _page(i: int, vector: np.ndarray, collection: str = "a", acl: list[str] | None = None) -> Page:
    return Page(page_id=f"d{i}:1", doc_id=f"d{i}", collection=collection, source=f"/d{i}.pdf",
                content_hash="h", page_number=1, page_count=1, text=f"common words page{i}",
                embedding=vector.tolist(), acl=acl or [])  # fmt: skip


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    vecs = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def _knn_ids(store: SqliteStore, vector: np.ndarray, filters: Filters, k: int = 5) -> list[str]:
    req = SearchRequest(vector=vector.tolist(), mode=SearchMode.knn, top_k=k, filters=filters)
    return [h.page.page_id for h in store.search(req)]


def test_cached_filter_candidates_follow_writes(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/s.db")
    vecs = _vectors(12)
    store.upsert_pages([_page(i, vecs[i], collection="a" if i < 6 else "b") for i in range(12)])
    only_a = Filters(collection="a")
    assert set(_knn_ids(store, vecs[0], only_a, k=20)) == {f"d{i}:1" for i in range(6)}
    # a new page in "a" and one made staff-only: the same filters must see the change at once
    store.upsert_pages([_page(40, vecs[3], collection="a"), _page(1, vecs[1], collection="a", acl=["staff"])])
    assert "d40:1" in _knn_ids(store, vecs[3], only_a, k=20)
    public_a = Filters(collection="a", groups=[])
    assert "d1:1" not in _knn_ids(store, vecs[1], public_a, k=20)
    assert "d1:1" in _knn_ids(store, vecs[1], Filters(collection="a", groups=["staff"]), k=20)
    store.close()


def test_narrow_filter_ranks_like_brute_force(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/n.db")
    vecs = _vectors(40, seed=3)
    # 5 of 40 pages in "rare": under a quarter of the rows, so only their rows are scored
    store.upsert_pages([_page(i, vecs[i], collection="rare" if i % 8 == 0 else "common") for i in range(40)])
    query = _vectors(1, seed=9)[0]
    rare = [i for i in range(40) if i % 8 == 0]
    expected = sorted(rare, key=lambda i: -float(vecs[i] @ query))[:3]
    assert _knn_ids(store, query, Filters(collection="rare"), k=3) == [f"d{i}:1" for i in expected]
    everything = sorted(range(40), key=lambda i: -float(vecs[i] @ query))[:4]
    assert _knn_ids(store, query, Filters(), k=4) == [f"d{i}:1" for i in everything]
    store.close()


def test_hits_without_snippets_on_request(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/p.db")
    store.upsert_pages([_page(i, v) for i, v in enumerate(_vectors(3))])
    with_snippets = store.search(SearchRequest(query="common", mode=SearchMode.bm25))
    without = store.search(SearchRequest(query="common", mode=SearchMode.bm25, snippets=False))
    assert [h.page.page_id for h in with_snippets] == [h.page.page_id for h in without]
    assert all("<mark>common</mark>" in h.snippet for h in with_snippets)
    assert all(h.snippet == "" and h.page.text for h in without)
    store.close()


def test_rrf_fuses_integer_ids_like_strings() -> None:
    as_ints = rrf_fuse([[3, 1, 2], [2, 3, 9]])
    as_strs = rrf_fuse([["3", "1", "2"], ["2", "3", "9"]])
    assert [str(i) for i, _ in as_ints] == [s for s, _ in as_strs]
    assert [round(s, 9) for _, s in as_ints] == [round(s, 9) for _, s in as_strs]


def test_embedding_cache_returns_the_embedders_vectors_and_skips_repeats() -> None:
    calls: list[str] = []

    def embed(text: str) -> list[float]:
        calls.append(text)
        return [float(len(text)), 1.0]

    cache = cached_embedder(embed, size=2)
    assert cache("ab") == [2.0, 1.0] and cache("ab") == [2.0, 1.0]
    assert calls == ["ab"]
    cache("abc")
    cache("abcd")  # evicts "ab", the least recently used
    assert cache("ab") == [2.0, 1.0] and calls == ["ab", "abc", "abcd", "ab"]


def test_hit_pages_equal_validated_pages(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/v.db")
    vecs = _vectors(2)
    written = [_page(0, vecs[0], acl=["staff", "ops"]), _page(1, vecs[1])]
    store.upsert_pages(written)
    hits = store.search(SearchRequest(query="common", mode=SearchMode.bm25))
    media = {"embedding", "image", "thumbnail"}
    by_id = {p.page_id: p.model_dump(exclude=media) for p in written}
    assert len(hits) == 2
    for hit in hits:
        assert hit.page.model_dump(exclude=media) == by_id[hit.page.page_id]
        assert Page.model_validate_json(hit.page.model_dump_json()) == hit.page  # serialises like a real one
    store.close()


def _index_rows(vecs: np.ndarray, collections: list[str], staff_only: np.ndarray) -> list[tuple[object, ...]]:
    return [
        (i + 1, collections[i], f"d{i}", "en", '["staff"]' if staff_only[i] else "[]", not staff_only[i],
         vecs[i].tobytes())
        for i in range(len(vecs))
    ]  # fmt: skip


def _int8_index(
    monkeypatch: pytest.MonkeyPatch,
    vecs: np.ndarray,
    collections: list[str] | None = None,
    staff_only: np.ndarray | None = None,
) -> VectorIndex:
    """An index over `vecs` (L2-normalised here) that is big enough to scan its int8 copy."""
    monkeypatch.setattr(sqlite_vectors, "QUANTIZE_MIN_ROWS", 1_000)
    n = len(vecs)
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    hidden = np.zeros(n, dtype=bool) if staff_only is None else staff_only
    index = VectorIndex.from_rows(_index_rows(vecs, collections or ["a"] * n, hidden), "g", vecs.shape[1])
    assert index.quantized is not None
    return index


def _brute_force(
    index: VectorIndex, query: np.ndarray, positions: np.ndarray, k: int
) -> list[tuple[int, float]]:
    scores = index.matrix[positions] @ (query / np.linalg.norm(query))
    order = np.lexsort((index.rowids[positions], -scores))[:k]
    return list(zip(index.rowids[positions[order]].tolist(), scores[order].tolist(), strict=True))


def _assert_same(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [r for r, _ in got] == [r for r, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=0, atol=1e-6)


def test_int8_scan_returns_the_exact_top_k_under_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    # every filter shape takes the int8 path here: all rows, a wide filter, a narrow one
    n, dim = 50_000, 384
    rng = np.random.default_rng(11)
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    collections = rng.choice(["big", "mid", "small", "tiny"], size=n, p=[0.55, 0.25, 0.15, 0.05]).tolist()
    staff_only = rng.random(n) < 0.2
    index = _int8_index(monkeypatch, vecs, collections, staff_only)
    coll = np.array(collections)
    cases = [
        (Filters(), np.arange(n)),
        (Filters(collection="big"), np.flatnonzero(coll == "big")),
        (Filters(collection="small"), np.flatnonzero(coll == "small")),
        (Filters(collection="mid", groups=[]), np.flatnonzero((coll == "mid") & ~staff_only)),
    ]
    queries = rng.standard_normal((12, dim)).astype(np.float32)
    for filters, positions in cases:
        for query in queries:
            for k in (10, 100):
                _assert_same(index.top(query.tolist(), filters, k), _brute_force(index, query, positions, k))


def test_int8_scan_rescores_rows_it_misranks(monkeypatch: pytest.MonkeyPatch) -> None:
    # 3,000 rows close to one direction: their scores differ by less than the int8 quantisation
    # error, so the 200 best approximate rows miss some of the true top 10 unless the error bound
    # pulls them back in for exact rescoring
    dim, n = 64, 3_000
    rng = np.random.default_rng(5)
    base = rng.standard_normal(dim).astype(np.float32)
    index = _int8_index(monkeypatch, (base + 0.05 * rng.standard_normal((n, dim))).astype(np.float32))
    query = base / np.linalg.norm(base)
    approx, _ = index.quantized.scores(query)
    exact = index.matrix @ query
    assert not set(np.argsort(-exact)[:10]) <= set(np.argsort(-approx)[:200])  # the scan alone misranks
    _assert_same(index.top(query.tolist(), Filters(), 10), _brute_force(index, query, np.arange(n), 10))


def test_int8_store_search_ranks_like_brute_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_vectors, "QUANTIZE_MIN_ROWS", 50)
    store = SqliteStore(f"sqlite:///{tmp_path}/q.db")
    vecs = _vectors(300, seed=4)
    store.upsert_pages([_page(i, vecs[i], collection="a" if i % 3 else "b") for i in range(300)])
    query = _vectors(1, seed=8)[0]
    b_pages = [i for i in range(300) if i % 3 == 0]
    expected = sorted(b_pages, key=lambda i: -float(vecs[i] @ query))[:5]
    assert _knn_ids(store, query, Filters(collection="b"), k=5) == [f"d{i}:1" for i in expected]
    everything = sorted(range(300), key=lambda i: -float(vecs[i] @ query))[:20]
    assert _knn_ids(store, query, Filters(), k=20) == [f"d{i}:1" for i in everything]
    index = store._vector_index(store._conn(create=False))  # type: ignore[arg-type]
    assert index is not None and index.quantized is not None
    store.close()


def test_int8_scan_is_exact_for_a_query_that_quantises_badly(monkeypatch: pytest.MonkeyPatch) -> None:
    # one large coordinate and many small ones: the small ones all round to 0 or ±1 in the int8
    # query, so only the query's own error bound keeps the rescoring exact
    dim, n = 96, 4_000
    rng = np.random.default_rng(11)
    index = _int8_index(monkeypatch, rng.standard_normal((n, dim)).astype(np.float32))
    query = (0.004 * rng.standard_normal(dim)).astype(np.float32)
    query[0] = 1.0
    query /= np.linalg.norm(query)
    assert index.quantized is not None
    _, query_error = index.quantized.scores(query)
    assert query_error > 0.01  # the int8 query is far from the float one
    _assert_same(index.top(query.tolist(), Filters(), 25), _brute_force(index, query, np.arange(n), 25))
