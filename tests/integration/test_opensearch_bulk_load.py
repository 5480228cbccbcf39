"""Bulk-load mode on a real node: the pages and images indices lose refresh and replicas while a
load runs and get their settings back when it ends, also when it ends in an exception; a loading
process killed with SIGKILL leaves its settings recorded, and the next load (or the next page write)
puts them back, with every page stored once after the load is run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docstore.opensearch.bulk_load import LOAD_RECORD
from docstore.opensearch.store import OpenSearchStore
from docstore.schema import Page, page_id
from tests.fixtures.processes import kill_when

pytestmark = pytest.mark.opensearch

REPO = Path(__file__).resolve().parents[2]
KEYS = ("index.refresh_interval", "index.number_of_replicas", "index.auto_expand_replicas")
LOADING = dict(zip(KEYS, ("-1", "0", "false"), strict=True))  # the settings while a load runs


def _pages(count: int, image: bool = False) -> list[Page]:
    return [
        Page(page_id=page_id("doc", n), doc_id="doc", source="/d.pdf", content_hash="h", page_number=n,
             page_count=count, text=f"harbour tide table {n}", embedding=[1.0, 0.0, 0.0, float(n)],
             image=b"png" if image else None)
        for n in range(1, count + 1)
    ]  # fmt: skip


def _settings(store: OpenSearchStore, index: str) -> dict[str, Any]:
    found = store.client.indices.get_settings(index=index, flat_settings=True)[index]["settings"]
    return {key: found.get(key) for key in KEYS}


def _record(store: OpenSearchStore) -> Any:
    return store._mapping().get("_meta", {}).get(LOAD_RECORD)


def _indexed(store: OpenSearchStore) -> int:
    """Index operations the pages index took, refreshed or not."""
    stats = store.client.indices.stats(index=store.pages_index, metric="indexing")
    return int(stats["_all"]["primaries"]["indexing"]["index_total"])


@pytest.fixture
def make_store(opensearch_url: str, opensearch_index_prefix: str) -> Iterator[Any]:
    made: list[OpenSearchStore] = []

    def make(options: str = "") -> OpenSearchStore:
        made.append(OpenSearchStore(f"{opensearch_url}?prefix={opensearch_index_prefix}{options}"))
        return made[-1]

    yield make
    made[0].client.indices.delete(index=f"{opensearch_index_prefix}-*", ignore_unavailable=True)
    for store in made:
        store.close()


def test_settings_change_for_the_load_and_come_back(make_store: Any) -> None:
    store = make_store("&replicas=1")  # one replica (yellow on one node): the load drops it
    store.upsert_pages(_pages(2, image=True))  # both indices exist before the load
    store.set_meta("embedder", "hash:4")
    before = {index: _settings(store, index) for index in (store.pages_index, store.images_index)}
    assert before[store.pages_index]["index.number_of_replicas"] == "1"
    with store.bulk_load():
        for index in before:
            assert _settings(store, index) == LOADING
        assert set(_record(store)) == set(before)
        store.upsert_pages(_pages(1200))  # three bulk requests at a time
        assert store.count() == 2  # the loaded pages stay hidden until the load ends
    assert {index: _settings(store, index) for index in before} == before
    assert _record(store) is None
    assert store.count() == 1200  # searchable at once, each page once
    assert store.get_meta("embedder") == "hash:4"  # the rest of the mapping's _meta untouched


def test_an_index_created_during_the_load_is_switched_and_restored(make_store: Any) -> None:
    store = make_store()
    with store.bulk_load():  # a new store: both indices are made during the load
        store.upsert_pages(_pages(3, image=True))
        assert _settings(store, store.pages_index) == LOADING
        assert _settings(store, store.images_index) == LOADING
    for index in (store.pages_index, store.images_index):  # as the store makes them
        after = _settings(store, index)
        assert after["index.refresh_interval"] is None and after["index.auto_expand_replicas"] == "0-1"
    assert store.count() == 3 and store.get_page(page_id("doc", 3)) is not None


def test_settings_come_back_after_an_exception_mid_load(make_store: Any) -> None:
    store = make_store("&replicas=1")
    store.upsert_pages(_pages(2))
    before = _settings(store, store.pages_index)
    with pytest.raises(ValueError, match="holds 4-dim"), store.bulk_load():
        store.upsert_pages(_pages(50))
        store.ensure(8)  # a wrong-sized embedding stops the load halfway
    assert _settings(store, store.pages_index) == before
    assert _record(store) is None
    assert store.count() == 50  # what was written before the error is searchable


LOADER = """
import sys, time
from docstore.opensearch.store import OpenSearchStore
from tests.integration.test_opensearch_bulk_load import _pages
store = OpenSearchStore(sys.argv[1])
with store.bulk_load():
    store.upsert_pages(_pages(300))
    print("written", flush=True)
    time.sleep(600)
"""


def test_a_killed_load_is_restored_by_the_next_page_write(make_store: Any) -> None:
    store = make_store("&replicas=1")
    store.upsert_pages(_pages(2))
    before = _settings(store, store.pages_index)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", LOADER, store.url], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()
    assert _settings(store, store.pages_index) == LOADING  # what the killed load left
    assert set(_record(store)) == {store.pages_index}
    later = make_store("&replicas=1")  # another process's store, outside any load
    later.upsert_pages(_pages(1))
    assert _settings(later, later.pages_index) == before
    assert _record(later) is None
    assert later.count() == 300  # the killed load's pages, each once


def test_a_killed_index_run_is_completed_by_the_next_bulk_load(
    make_store: Any, shared_pdfs: Path, tmp_path: Path
) -> None:
    geotopo = shared_pdfs / "GeoTopo-komprimiert.pdf"  # 117 pages
    store = make_store("&replicas=1")
    store.create_index(store.pages_index)  # an existing index with its own settings
    before = _settings(store, store.pages_index)
    cmd = [sys.executable, "-m", "search_api.main", "index", str(geotopo), "--store", store.url]
    cmd.append("--bulk-load")
    env = {**os.environ, "FOLIO_EMBEDDER": "hash", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: _indexed(store) > 0)  # some of its pages written (not searchable yet)
    assert _settings(store, store.pages_index) == LOADING
    [doc] = store.list_documents()
    assert not doc.complete

    again = subprocess.run([*cmd, "--json"], env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["files_indexed"] == 1 and summary["pages_indexed"] == 117
    assert _settings(store, store.pages_index) == before
    assert _record(store) is None
    [doc] = store.list_documents()
    assert doc.complete and doc.pages_stored == 117
    assert store.count() == 117  # every page once
    found = store.get_pages([page_id(doc.doc_id, n) for n in range(1, 118)])
    assert [p.page_number for p in found] == list(range(1, 118))
