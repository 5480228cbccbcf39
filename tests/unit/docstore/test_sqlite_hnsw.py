"""The SQLite store's HNSW side index (docstore.sqlite.hnsw), on stores put above its threshold
(FOLIO_HNSW_MIN_ROWS): filters give the exact scan's answers, deletes and replacements disappear,
another store object's writes are seen, the file beside the database is rebuilt when missing or
foreign and caught up from the change log when stale, and the graph's recall@10 against the exact
search holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from docstore.schema import Filters, Page, SearchMode, SearchRequest
from docstore.sqlite import changes, hnsw
from docstore.sqlite.hnsw import HnswIndex
from docstore.sqlite.hnsw_file import HnswFiles, persisted_watermark
from docstore.sqlite.store import SqliteStore
from docstore.sqlite.vectors import VectorIndex

DIM = 16
REPO = Path(__file__).resolve().parents[3]
FILTERS = [
    Filters(),
    Filters(collection="c1"),
    Filters(groups=[]),
    Filters(groups=["hr"]),
    Filters(language="de", groups=["staff"]),
    Filters(doc_id="d7"),
    Filters(collection="c2", language="en", groups=[]),
    Filters(collection="nowhere"),
]


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLIO_HNSW_MIN_ROWS", "50")


def _vectors(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    vecs = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def _page(i: int, vector: np.ndarray) -> Page:
    acl = ["staff"] if i % 5 == 0 else (["hr", "x"] if i % 7 == 0 else [])
    return Page(page_id=f"d{i // 3}:{i % 3 + 1}", doc_id=f"d{i // 3}", collection=f"c{i % 4}",
                source=f"/d{i // 3}.pdf", content_hash="h", page_number=i % 3 + 1, page_count=3,
                text=f"page {i}", language="de" if i % 3 == 0 else "en", embedding=vector.tolist(),
                acl=acl)  # fmt: skip


def _store(tmp_path: Path, n: int = 600, seed: int = 0) -> tuple[SqliteStore, np.ndarray]:
    store = SqliteStore(f"sqlite:///{tmp_path}/folio.db")
    vecs = _vectors(n, seed)
    store.upsert_pages([_page(i, vecs[i]) for i in range(n)])
    return store, vecs


def _knn(store: SqliteStore, vector: np.ndarray, filters: Filters | None = None, k: int = 10) -> list[str]:
    req = SearchRequest(vector=vector.tolist(), mode=SearchMode.knn, top_k=k, filters=filters or Filters())
    return [h.page.page_id for h in store.search(req)]


def _graph(store: SqliteStore) -> HnswIndex:
    conn = store._conn(create=False)
    assert conn is not None
    index = store._vector_index(conn)
    assert isinstance(index, HnswIndex)
    return index


def _exact_and_graph(store: SqliteStore) -> tuple[VectorIndex, HnswIndex]:
    conn = store._conn(create=False)
    assert conn is not None
    return VectorIndex.load(conn, "exact", DIM), _graph(store)


def test_filters_narrow_enough_to_scan_give_the_exact_scans_answers(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    exact, index = _exact_and_graph(store)
    conn = store._conn(create=False)
    assert conn is not None
    for q, query in enumerate(_vectors(20, seed=99)):
        for filters in FILTERS[1:]:  # each selects fewer than EXACT_ROWS pages
            for k in (1, 10, 50):
                got = index.top(conn, query.tolist(), filters, k)
                want = exact.top(query.tolist(), filters, k)
                assert [r for r, _ in got] == [r for r, _ in want], (q, filters, k)
                assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-6)
    store.close()


def test_graph_searches_keep_only_what_filters_select(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every filter through the graph, however few pages it selects: exactly the visible pages
    come back (k of them when that many exist), with exact scores, ranked almost as the scan."""
    monkeypatch.setattr(hnsw, "EXACT_ROWS", 0)
    store, _ = _store(tmp_path)
    exact, index = _exact_and_graph(store)
    conn = store._conn(create=False)
    assert conn is not None
    shared: list[float] = []
    for query in _vectors(20, seed=99):
        for filters in FILTERS:
            visible = set(exact.rowids[exact.mask(filters)].tolist())
            got = index.top(conn, query.tolist(), filters, 10)
            want = exact.top(query.tolist(), filters, 10)
            assert len(got) == len(want) == min(10, len(visible))
            assert {r for r, _ in got} <= visible
            scores = dict(exact.top(query.tolist(), filters, len(visible) or 1))
            assert all(abs(scores[r] - s) < 1e-6 for r, s in got)  # exact cosines
            if want:
                shared.append(len({r for r, _ in got} & {r for r, _ in want}) / len(want))
    assert float(np.mean(shared)) >= 0.98
    store.close()


def test_deleted_and_replaced_pages_disappear(tmp_path: Path) -> None:
    store, vecs = _store(tmp_path)
    assert _knn(store, vecs[21], k=1) == ["d7:1"]
    store.delete_document("d7")
    assert "d7:1" not in _knn(store, vecs[21], k=50)
    assert _knn(store, vecs[21], Filters(doc_id="d7")) == []
    # page d8:1 (i = 24) gets page 30's vector: found there once, no longer at its old place
    moved = _page(24, vecs[30])
    store.upsert_pages([moved])
    assert _knn(store, vecs[30], k=2) == ["d10:1", "d8:1"]  # equal scores: the older row first
    assert "d8:1" not in _knn(store, vecs[24], k=5)
    conn = store._conn(create=False)
    assert conn is not None
    every = [r for r, _ in _graph(store).top(conn, vecs[0].tolist(), Filters(), 1000)]
    assert len(every) == len(set(every)) == store.count() == 597
    store.close()


def test_another_store_objects_writes_are_seen(tmp_path: Path) -> None:
    reader, vecs = _store(tmp_path)
    assert _knn(reader, vecs[3], k=1) == ["d1:1"]
    writer = SqliteStore(reader.url)  # its own connections and graph, as another process has
    fresh = _vectors(1, seed=5)[0]
    writer.upsert_pages([_page(900, fresh)])
    writer.delete_document("d1")
    assert _knn(reader, fresh, k=1) == ["d300:1"]
    assert "d1:1" not in _knn(reader, vecs[3], k=20)
    writer.close()
    reader.close()


def test_a_missing_or_foreign_file_is_rebuilt(tmp_path: Path) -> None:
    store, vecs = _store(tmp_path)
    files = HnswFiles(tmp_path / "folio.db")
    _graph(store)
    store.close()
    assert files.graph.exists() and persisted_watermark(files.db) == changes.latest(store._writer())
    store.close()
    files.graph.unlink()
    again = SqliteStore(store.url)
    assert _knn(again, vecs[3], k=1) == ["d1:1"]
    assert files.graph.exists()
    again.close()
    # a file another store wrote (its id differs) is not used
    meta = json.loads(files.meta.read_text())
    files.meta.write_text(json.dumps({**meta, "store_id": "elsewhere"}))
    third = SqliteStore(store.url)
    assert _knn(third, vecs[3], k=1) == ["d1:1"]
    assert json.loads(files.meta.read_text())["store_id"] == meta["store_id"]
    third.close()
    # nor one another usearch version wrote (the layout is usearch's)
    files.meta.write_text(json.dumps({**meta, "usearch": "0.0.0"}))
    fourth = SqliteStore(store.url)
    assert _knn(fourth, vecs[3], k=1) == ["d1:1"]
    assert json.loads(files.meta.read_text())["usearch"] == meta["usearch"]
    fourth.close()


def test_a_stale_file_is_caught_up_from_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, vecs = _store(tmp_path)
    _graph(store)
    store.close()
    saved = persisted_watermark(tmp_path / "folio.db")
    assert saved is not None
    # a process that writes and is killed before closing: the file stays behind the log
    monkeypatch.setenv("FOLIO_HNSW_SAVE_TAIL", "1000000")
    writer = SqliteStore(store.url)
    fresh = _vectors(3, seed=8)
    writer.upsert_pages([_page(900 + i, fresh[i]) for i in range(3)])
    writer.delete_document("d2")
    writer._wrote_pages = False  # as if killed: close() does not touch the file
    writer.close()
    assert persisted_watermark(tmp_path / "folio.db") == saved
    reader = SqliteStore(store.url)
    index = _graph(reader)
    assert index.saved == saved < index.watermark  # loaded, then caught up (not rebuilt)
    assert _knn(reader, fresh[1], k=1) == ["d300:2"]
    assert "d2:1" not in _knn(reader, vecs[6], k=20)
    reader.close()


def test_a_log_trimmed_past_the_graph_reloads_the_newer_file(tmp_path: Path) -> None:
    first, vecs = _store(tmp_path)
    old = _graph(first)
    other = SqliteStore(first.url)
    fresh = _vectors(1, seed=12)[0]
    other.upsert_pages([_page(900, fresh)])
    other.flush()  # saves a file newer than `first`'s graph
    newer = persisted_watermark(tmp_path / "folio.db")
    assert newer is not None and newer > old.watermark
    other.write(lambda c: changes.trim(c, newer))  # what trimming to the side indices' watermarks does
    other.close()
    assert _knn(first, fresh, k=1) == ["d300:1"]
    assert _graph(first) is not old  # reloaded from the file
    first.close()


def test_graph_recall_at_10_against_the_exact_search(tmp_path: Path) -> None:
    """Pages around topics (the shape of text embeddings, not uniform noise)."""
    rng = np.random.default_rng(3)
    dim, n = 64, 4000
    topics = _vectors(40, seed=4, dim=dim)
    raw = topics[rng.integers(0, 40, n)] + 0.6 * _vectors(n, seed=5, dim=dim)
    vecs = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    store = SqliteStore(f"sqlite:///{tmp_path}/r.db")
    pages = [_page(i, vecs[i]) for i in range(n)]
    for start in range(0, n, 1000):
        store.upsert_pages(pages[start : start + 1000])
    conn = store._conn(create=False)
    assert conn is not None
    index, exact = _graph(store), VectorIndex.load(conn, "exact", dim)
    queries = topics[rng.integers(0, 40, 50)] + 0.6 * _vectors(50, seed=6, dim=dim)
    recall = [
        len(
            {r for r, _ in index.top(conn, q.tolist(), Filters(), 10)}
            & {r for r, _ in exact.top(q.tolist(), Filters(), 10)}
        )
        / 10
        for q in queries
    ]
    assert float(np.mean(recall)) >= 0.98
    store.close()


def test_small_stores_keep_the_exact_scan(tmp_path: Path) -> None:
    store, vecs = _store(tmp_path, n=30)
    conn = store._conn(create=False)
    assert conn is not None
    assert isinstance(store._vector_index(conn), VectorIndex)
    store.close()
    assert not HnswFiles(tmp_path / "folio.db").graph.exists() and store.storage().get("folio.db.hnsw") is None


def test_usearch_leaves_the_libraries_loaded_after_it_working() -> None:
    """usearch 2.24+ (NumKong) breaks what is imported after it: simsimd's int8 kernels refuse
    int8 arrays, pymupdf's import segfaults. The pinned usearch does neither."""
    code = (
        "import numpy as np; import docstore.sqlite.hnsw; import pymupdf; "
        "from docstore.sqlite.int8 import Int8Matrix; "
        "m = np.eye(4, dtype=np.float32); print(Int8Matrix.quantize(m).scores(m[0])[0].round(3).tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([1.0, 0.0, 0.0, 0.0])
