"""What only the SQLite backend promises: lazy construction, URL forms, thread safety, that a
second process's writes are seen (the kNN cache follows the store's generation), and that stores
written before a table or column existed are brought up to date on open."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from docstore.schema import Filters, Page, SearchMode, SearchRequest
from docstore.sqlite.lexical_terms import exact_terms, page_fields
from docstore.sqlite.store import SqliteStore
from docstore.store import open_store
from docstore.word_boxes import WordBox, encode_word_boxes


def _page(i: int, text: str = "shared words", vector: list[float] | None = None) -> Page:
    return Page(page_id=f"d{i}:1", doc_id=f"d{i}", source=f"/d{i}.pdf", content_hash="h", page_number=1,
                page_count=1, text=text, embedding=vector or [1.0, float(i), 0.0, 0.0])  # fmt: skip


def test_constructor_does_no_io_and_creates_parent_dirs(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "folio.db"
    store = open_store(f"sqlite:///{path}")
    assert isinstance(store, SqliteStore) and not path.parent.exists()
    store.upsert_pages([_page(1)])
    assert path.exists() and store.count() == 1
    store.close()


def test_bad_urls_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        SqliteStore("sqlite://relative.db")
    with pytest.raises(ValueError, match="without a path"):
        SqliteStore("sqlite:///")


def test_embedding_dim_is_fixed_per_store(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/d.db")
    store.ensure(4)
    with pytest.raises(ValueError, match="4-dim"):
        store.ensure(8)
    with pytest.raises(ValueError, match="dims"):
        store.upsert_pages([_page(1, vector=[1.0, 0.0])])
    assert store.count() == 0  # nothing half-written
    store.close()


def test_readers_in_threads_while_one_writes(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/t.db")
    store.upsert_pages([_page(i) for i in range(20)])
    errors: list[BaseException] = []
    seen: list[int] = []

    def read() -> None:
        try:
            for _ in range(30):
                hits = store.search(
                    SearchRequest(query="shared", vector=[1, 0, 0, 0], mode=SearchMode.hybrid)
                )
                seen.append(len(hits))
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    def write() -> None:
        try:
            for i in range(20, 60):
                store.upsert_pages([_page(i)])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)] + [threading.Thread(target=write)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert min(seen) >= 20 and store.count() == 60
    store.close()


def test_a_second_connection_sees_writes_and_knn_refreshes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/two.db"
    reader, writer = SqliteStore(url), SqliteStore(url)
    writer.upsert_pages([_page(1, vector=[1.0, 0.0, 0.0, 0.0])])
    knn = SearchRequest(vector=[0.0, 1.0, 0.0, 0.0], mode=SearchMode.knn, top_k=1)
    assert [h.page.page_id for h in reader.search(knn)] == ["d1:1"]
    writer.upsert_pages([_page(2, vector=[0.0, 1.0, 0.0, 0.0])])  # written elsewhere: the cache must notice
    assert [h.page.page_id for h in reader.search(knn)] == ["d2:1"]
    writer.delete_document("d2")
    assert [h.page.page_id for h in reader.search(knn)] == ["d1:1"]
    reader.close()
    writer.close()


def test_lexical_terms_bigram_cjk_and_fold_diacritics() -> None:
    assert exact_terms("東京大学") == ["東京", "京大", "大学"]
    assert exact_terms('Café "b" OR *') == ["cafe", "b", "or"]
    assert exact_terms("猫") == ["猫"]
    exact, stems = page_fields("Title", "Solar panels on roofs", "en")
    assert exact.split() == ["title", "solar", "panels", "on", "roofs"]
    assert stems.split() == ["titl", "solar", "panel", "roof"]


def test_queries_never_reach_a_query_syntax(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/q.db")
    store.upsert_pages([_page(1, 'a b OR c "quoted" title:x *')])
    for query in ['"', "*", "OR", "title:x", "(", "AND NOT", "a OR", "x~2", "[1 TO 2]"]:
        store.search(SearchRequest(query=query, mode=SearchMode.bm25))  # no parser error
    assert [h.page.page_id for h in store.search(SearchRequest(query="title:x", mode=SearchMode.bm25))] == [
        "d1:1"
    ]
    assert store.search(SearchRequest(query="*** ()", mode=SearchMode.bm25)) == []
    store.close()


def test_a_store_from_before_the_bm25_index_drops_its_fts_tables_and_builds_the_index(tmp_path: Path) -> None:
    import shutil
    import sqlite3 as sq

    url = f"sqlite:///{tmp_path}/old.db"
    store = SqliteStore(url)
    store.upsert_pages([
        Page(page_id="d:1", doc_id="d", source="/d.pdf", content_hash="h", page_number=1, page_count=1,
             language="en", text="solar panels on roofs"),
    ])  # fmt: skip
    store.close()
    shutil.rmtree(tmp_path / "old.db.bm25")
    conn = sq.connect(tmp_path / "old.db")  # as a store written with FTS5 tables and no change log
    conn.execute("CREATE VIRTUAL TABLE pages_fts USING fts5 (title, text)")
    conn.execute("CREATE VIRTUAL TABLE pages_stem USING fts5 (stems)")
    conn.execute("DROP TABLE changes")
    conn.commit()
    conn.close()
    reopened = SqliteStore(url)
    hits = reopened.search(SearchRequest(query="panel", mode=SearchMode.bm25))
    assert [h.page.page_id for h in hits] == ["d:1"]  # found through its stem, in the rebuilt index
    conn = sq.connect(tmp_path / "old.db")
    tables = "SELECT count(*) FROM sqlite_master WHERE name IN ('pages_fts', 'pages_stem')"
    assert conn.execute(tables).fetchone()[0] == 0
    conn.close()
    reopened.close()


def test_a_store_from_before_word_boxes_gets_their_column_on_open(tmp_path: Path) -> None:
    import sqlite3 as sq

    url = f"sqlite:///{tmp_path}/old.db"
    store = SqliteStore(url)
    store.upsert_pages([_page(1, "solar panels").model_copy(update={"image": b"\x89PNG-1"})])
    store.close()
    conn = sq.connect(tmp_path / "old.db")  # the images table as it was before word boxes
    conn.executescript(
        "CREATE TABLE old_images (page_id TEXT PRIMARY KEY, image BLOB, thumbnail BLOB);"
        " INSERT INTO old_images SELECT page_id, image, thumbnail FROM images;"
        " DROP TABLE images; ALTER TABLE old_images RENAME TO images;"
    )
    conn.close()
    reopened = SqliteStore(url)
    old = reopened.get_page("d1:1")
    assert old is not None and old.image == b"\x89PNG-1" and old.word_boxes is None
    boxes = encode_word_boxes([WordBox(0, 5, 0.1, 0.1, 0.3, 0.15)])
    reopened.upsert_pages([_page(2, "solar roofs").model_copy(update={"word_boxes": boxes})])
    assert reopened.get_word_boxes(["d1:1", "d2:1"]) == {"d2:1": boxes}
    hits = reopened.search(SearchRequest(query="solar", mode=SearchMode.bm25))
    assert sorted(h.page.page_id for h in hits) == ["d1:1", "d2:1"]
    reopened.close()


def test_the_bm25_index_follows_writes_it_missed_and_is_rebuilt_when_lost(tmp_path: Path) -> None:
    import shutil

    url = f"sqlite:///{tmp_path}/side.db"
    writer = SqliteStore(url)
    writer.upsert_pages([_page(1, "solar panels")])  # published at once (the first write)
    writer.upsert_pages([_page(2, "wind turbines")])  # within a second: left to the next reader
    writer.upsert_pages([_page(1, "tidal power")])  # page 1 replaced
    # the writer ends without closing, as a killed process would: the index is behind the log
    reader = SqliteStore(url)

    def found(store: SqliteStore, query: str) -> list[str]:
        return [h.page.page_id for h in store.search(SearchRequest(query=query, mode=SearchMode.bm25))]

    assert found(reader, "turbines") == ["d2:1"]
    assert found(reader, "tidal") == ["d1:1"]
    assert found(reader, "solar") == []  # the replaced text is gone from the index
    reader.delete_document("d2")
    assert found(writer, "turbines") == []
    reader.close()
    writer.close()
    shutil.rmtree(tmp_path / "side.db.bm25")
    rebuilt = SqliteStore(url)
    assert found(rebuilt, "tidal") == ["d1:1"] and found(rebuilt, "turbines") == []
    conn = rebuilt._conn(create=False)
    assert conn is not None
    assert rebuilt._lexical.rowids(conn) == [r[0] for r in conn.execute("SELECT rowid FROM pages")]
    rebuilt.close()


def test_a_bm25_index_of_another_file_is_rebuilt(tmp_path: Path) -> None:
    import shutil

    url = f"sqlite:///{tmp_path}/live.db"
    store = SqliteStore(url)
    store.upsert_pages([_page(1, "solar panels")])
    store.close()
    shutil.copy(tmp_path / "live.db", tmp_path / "backup.db")  # a backup of the file alone
    store = SqliteStore(url)
    store.upsert_pages([_page(2, "wind turbines")])
    store.delete_document("d1")
    store.close()
    # restored: the file from the backup, the BM25 index as the newer file left it
    (tmp_path / "backup.db").replace(tmp_path / "live.db")
    restored = SqliteStore(url)
    found = [
        h.page.page_id for h in restored.search(SearchRequest(query="solar turbines", mode=SearchMode.bm25))
    ]
    assert found == ["d1:1"]
    restored.close()
    # another store's index moved beside this file
    other = SqliteStore(f"sqlite:///{tmp_path}/other.db")
    other.upsert_pages([_page(3, "geothermal heat")])
    other.close()
    shutil.rmtree(tmp_path / "live.db.bm25")
    shutil.copytree(tmp_path / "other.db.bm25", tmp_path / "live.db.bm25")
    restored = SqliteStore(url)
    assert [
        h.page.page_id for h in restored.search(SearchRequest(query="solar geothermal", mode=SearchMode.bm25))
    ] == ["d1:1"]
    restored.close()


def test_filtered_bm25_ranks_deep_enough_or_intersects(tmp_path: Path) -> None:
    """Filters where most pages pass rank without the filter and drop what fails it; when the best
    pages all fail it (or few pages pass), the filter is applied inside the query: the answer is
    the same k best passing pages either way."""
    store = SqliteStore(f"sqlite:///{tmp_path}/f.db")
    restricted = [_page(i, "alpha alpha alpha").model_copy(update={"acl": ["secret"]}) for i in range(25)]
    public = [_page(i, f"alpha filler words number {i}") for i in range(25, 100)]
    narrow = [_page(i, "alpha beta").model_copy(update={"collection": "small"}) for i in range(100, 103)]
    store.upsert_pages([*restricted, *public, *narrow])

    def ids(filters: Filters, top_k: int = 5) -> list[str]:
        request = SearchRequest(query="alpha", mode=SearchMode.bm25, top_k=top_k, filters=filters)
        return [h.page.page_id for h in store.search(request)]

    # the 25 restricted pages rank first: the unfiltered top 20 hold no page the public may see
    assert ids(Filters())[:5] == [f"d{i}:1" for i in range(5)]
    public_hits = ids(Filters(groups=[]), top_k=10)
    assert len(public_hits) == 10 and all(int(h[1:-2]) >= 25 for h in public_hits)
    assert ids(Filters(groups=["secret"])) == [f"d{i}:1" for i in range(5)]
    assert sorted(ids(Filters(collection="small"))) == ["d100:1", "d101:1", "d102:1"]  # 3% pass: intersected
    everything = ids(Filters(groups=[]), top_k=100)
    assert len(everything) == 78 and len(set(everything)) == 78  # every public page, once
    store.close()
