"""`folio index/status/delete` as a user runs them (subprocesses, a real SQLite file), including
killing the indexer with SIGKILL mid-run and running it again."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from docstore.schema import page_id
from docstore.store import open_store
from tests.fixtures.processes import kill_when

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def _env() -> dict[str, str]:
    return {**os.environ, "FOLIO_EMBEDDER": "hash", "PYTHONUNBUFFERED": "1"}


def folio(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "search_api.main", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=REPO, timeout=240)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def folio_json(*args: str) -> Any:
    return json.loads(folio(*args, "--json", check=True).stdout)


def test_index_status_delete_on_the_samples(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/folio.db"
    summary = folio_json("index", str(SAMPLES), "--store", store, "--quiet")
    assert set(summary) >= {
        "files_indexed",
        "files_unchanged",
        "pages_indexed",
        "skipped",
        "failed_pages",
        "seconds",
    }
    # three PDFs (3 + 1 + 2 pages) and two Markdown files (the notes and the README)
    assert summary["files_indexed"] == 5 and summary["pages_indexed"] == 8
    assert summary["skipped"] == [] and summary["failed_pages"] == []

    status = folio_json("status", "--store", store)
    assert status["documents"] == 5 and status["pages"] == 8
    assert status["incomplete_documents"] == [] and status["collections"] == {"default": 5}
    assert status["embedder"] == "hash:384" and status["dim"] == 384

    again = folio_json("index", str(SAMPLES), "--store", store)
    assert again["files_unchanged"] == 5 and again["pages_indexed"] == 0

    deleted = folio_json("delete", "--source", str(SAMPLES / "search-zh-ja.pdf"), "--store", store)
    assert deleted == {"documents_deleted": 1, "pages_deleted": 2}
    assert folio_json("status", "--store", store)["pages"] == 6

    text = folio("index", str(SAMPLES), "--store", store, check=True).stdout  # human summary
    assert "files indexed    1" in text and "pages indexed    2" in text


def test_deleted_local_files_are_reported_and_pruned(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.md", "sub/b.md", "c.md"):
        (folder / name).write_text(f"# {name}\n\nSome text about {name}.\n")
    store_url = f"sqlite:///{tmp_path}/local.db"
    assert folio_json("index", str(folder), "--store", store_url, "--quiet")["files_indexed"] == 3
    (folder / "sub" / "b.md").unlink()
    # A hidden file indexed on its own: the folder's walk passes it by, but it is not gone.
    alone = folder / ".draft.md"
    alone.write_text("# draft\n")
    assert folio_json("index", str(alone), "--store", store_url, "--quiet")["deleted"] == []
    report = folio_json("index", str(folder), "--store", store_url, "--quiet")
    assert report["deleted"] == [str(folder / "sub" / "b.md")] and report["pruned"] == 0
    pruned = folio_json("index", str(folder), "--store", store_url, "--prune", "--quiet")
    assert pruned["deleted"] == [str(folder / "sub" / "b.md")] and pruned["pruned"] == 1
    store = open_store(store_url)
    assert sorted(Path(d.source).name for d in store.list_documents()) == [".draft.md", "a.md", "c.md"]
    store.close()


def test_human_output_lists_skip_reasons(shared_pdfs: Path, tmp_path: Path) -> None:
    proc = folio("index", str(shared_pdfs / "hostile"), "--store", f"sqlite:///{tmp_path}/h.db", "--quiet")
    assert proc.returncode == 0  # files that cannot be read fail alone
    assert "poppler-742-0-fuzzed.pdf: damaged" in proc.stdout
    assert "GHOSTSCRIPT-698804-1-fuzzed.pdf: empty" in proc.stdout


def test_errors_exit_non_zero(tmp_path: Path) -> None:
    missing = folio("index", str(tmp_path / "nope"), "--store", f"sqlite:///{tmp_path}/x.db")
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    unreachable = folio("index", str(SAMPLES), "--store", "http://127.0.0.1:9/?prefix=x", "--quiet")
    assert unreachable.returncode != 0 and unreachable.stderr.strip()
    bad_store = folio("status", "--store", "ftp://example")
    assert bad_store.returncode == 2 and "unsupported store URL" in bad_store.stderr


def test_status_and_delete_on_a_store_that_does_not_exist(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/nope/folio.db"
    for args in (["status"], ["status", "--json"], ["delete", "--collection", "default"]):
        proc = folio(*args, "--store", store)
        assert proc.returncode == 1 and proc.stdout == "", args
        assert proc.stderr.strip() == f"folio: no store at {store}: nothing has been indexed there"
    assert not (tmp_path / "nope").exists()  # asking created nothing


@pytest.mark.opensearch
def test_status_on_an_opensearch_store_that_does_not_exist(
    opensearch_url: str, opensearch_index_prefix: str
) -> None:
    from opensearchpy import OpenSearch

    store = f"{opensearch_url}?prefix={opensearch_index_prefix}"
    proc = folio("status", "--store", store)
    assert (
        proc.returncode == 1
        and proc.stderr.strip() == f"folio: no store at {store}: nothing has been indexed there"
    )
    client = OpenSearch(opensearch_url)
    try:
        assert not client.indices.get(index=f"{opensearch_index_prefix}*", expand_wildcards="all")
    finally:
        client.close()


def test_deleting_what_was_never_indexed_says_so(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/d.db"
    folio("index", str(SAMPLES / "indexing-notes.md"), "--store", store, "--quiet", check=True)
    never = SAMPLES / "search-zh-ja.pdf"
    cases = {
        ("--source", str(never)): f"{never} was never indexed into {store}",
        ("--doc", "no-such-doc"): f"no document 'no-such-doc' in {store}",
        ("--collection", "other"): f"no collection 'other' in {store}",
    }
    for args, message in cases.items():
        proc = folio("delete", *args, "--store", store)
        assert proc.returncode == 1 and proc.stdout == "" and proc.stderr.strip() == f"folio: {message}"
    assert folio_json("status", "--store", store)["documents"] == 1  # nothing was deleted


def test_a_broken_pdf_is_not_opened_again_until_it_changes(shared_pdfs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    broken = folder / "broken.pdf"
    shutil.copy(shared_pdfs / "hostile" / "poppler-742-0-fuzzed.pdf", broken)
    shutil.copy(SAMPLES / "indexing-notes.md", folder)
    store = f"sqlite:///{tmp_path}/b.db"
    first = folio_json("index", str(folder), "--store", store, "--quiet")
    [skipped] = first["skipped"]
    assert skipped["reason"].startswith("damaged") and not skipped["remembered"]
    again = folio("index", str(folder), "--store", store, check=True).stdout
    assert f"{broken}: {skipped['reason']} (unchanged since it failed)" in again
    assert "files unchanged  1" in again and "files skipped    1" in again
    os.utime(broken, ns=(time.time_ns(), time.time_ns()))  # touched: opened again
    third = folio_json("index", str(folder), "--store", store, "--quiet")
    assert third["skipped"] == [{**skipped, "remembered": False}]


def test_killed_run_is_completed_by_the_next_one(shared_pdfs: Path, tmp_path: Path) -> None:
    geotopo = shared_pdfs / "GeoTopo-komprimiert.pdf"
    store_url = f"sqlite:///{tmp_path}/k.db"
    cmd = [sys.executable, "-m", "search_api.main", "index", str(geotopo), "--store", store_url, "--quiet"]
    proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = open_store(store_url)

    def some_written() -> bool:  # some pages written, the document not finished
        try:
            return store.count() > 0
        except Exception:
            return False  # the database is still being created

    try:
        kill_when(proc, some_written)
        written = store.count()
        assert 0 < written < 117
        [doc] = store.list_documents()
        assert not doc.complete
        status = json.loads(folio("status", "--store", store_url, "--json", check=True).stdout)
        assert status["incomplete_documents"] == [str(geotopo.resolve())]
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()

    summary = json.loads(folio("index", str(geotopo), "--store", store_url, "--json", check=True).stdout)
    assert summary["files_indexed"] == 1 and summary["pages_indexed"] == 117
    [doc] = store.list_documents()
    assert doc.complete and doc.pages_stored == doc.page_count == 117
    assert store.count() == 117  # every page exactly once
    numbers = []
    for n in range(1, 118):
        page = store.get_page(page_id(doc.doc_id, n))
        assert page is not None
        numbers.append(page.page_number)
    assert numbers == list(range(1, 118))
    assert_side_indices_hold_every_page_once(store)
    store.close()


def assert_side_indices_hold_every_page_once(store: Any) -> None:
    """The BM25 index beside the SQLite file holds each stored page once and nothing else."""
    conn = store._conn(create=False)
    pages = sorted(int(r[0]) for r in conn.execute("SELECT rowid FROM pages"))
    in_index = store._lexical.rowids(conn)
    assert sorted(in_index) == pages


def _knn_finds_every_page_once(store_url: str) -> int:
    """Every stored page with an embedding comes back from one kNN search for all of them, once,
    and a page searched by its own embedding scores 1 at the top (a fresh store object: it loads
    the HNSW file and catches up from the change log)."""
    from docstore.schema import SearchMode, SearchRequest
    from docstore.sqlite.hnsw import HnswIndex

    raw = sqlite3.connect(store_url.removeprefix("sqlite:///"))
    try:
        rows = raw.execute(
            "SELECT p.page_id, v.embedding FROM pages p JOIN vectors v ON v.rowid = p.rowid"
        ).fetchall()
        assert len(rows) == raw.execute("SELECT count(*) FROM pages").fetchone()[0]
    finally:
        raw.close()
    embeddings = {pid: np.frombuffer(blob, dtype=np.float32).tolist() for pid, blob in rows}
    store = open_store(store_url)
    try:
        probe = next(v for v in embeddings.values() if any(v))
        found = store.search(SearchRequest(vector=probe, mode=SearchMode.knn, top_k=200, snippets=False))
        ids = [h.page.page_id for h in found]
        assert len(ids) == len(set(ids)) and set(ids) == set(embeddings)
        for vector in list(embeddings.values())[::7]:
            if any(vector):
                [top] = store.search(SearchRequest(vector=vector, mode=SearchMode.knn, top_k=1))
                assert top.score > 0.9999
        assert isinstance(store._vector_index(store._conn(create=False)), HnswIndex)  # type: ignore[attr-defined]
        return len(embeddings)
    finally:
        store.close()


def test_a_killed_run_leaves_no_page_lost_in_the_hnsw_index(
    shared_pdfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kNN side index beside the SQLite file (an HNSW graph; its threshold lowered so this
    small store has one) after a run SIGKILLed mid-file: the next reader catches it up from the
    change log, the next run finishes it, and every page is found by kNN exactly once."""
    from docstore.sqlite import changes
    from docstore.sqlite.hnsw_file import persisted_watermark

    for name, value in (("FOLIO_HNSW_MIN_ROWS", "5"), ("FOLIO_HNSW_SAVE_TAIL", "20")):
        monkeypatch.setenv(name, value)  # this process and the folio runs it starts
    db = tmp_path / "h.db"
    store_url = f"sqlite:///{db}"
    folio("index", str(SAMPLES), "--store", store_url, "--quiet", check=True)
    first = persisted_watermark(db)
    assert first is not None  # the run's close built the graph and saved it
    geotopo = shared_pdfs / "GeoTopo-komprimiert.pdf"
    cmd = [sys.executable, "-m", "search_api.main", "index", str(geotopo), "--store", store_url, "--quiet"]
    proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = open_store(store_url)
    try:
        kill_when(proc, lambda: watcher.count() > 8)
    finally:
        watcher.close()
    assert persisted_watermark(db) == first  # the killed run never reached its close
    assert 8 < _knn_finds_every_page_once(store_url) < 8 + 117

    folio("index", str(geotopo), "--store", store_url, "--quiet", check=True)
    assert _knn_finds_every_page_once(store_url) == 8 + 117
    conn = sqlite3.connect(db)
    try:
        assert persisted_watermark(db) == changes.latest(conn)  # the finishing run saved it in step
    finally:
        conn.close()


@pytest.mark.parametrize("bad", ["--workers=0", "--page-timeout=-1", "--collection=  "])
def test_bad_options(tmp_path: Path, bad: str) -> None:
    proc = folio("index", str(SAMPLES), bad, "--store", f"sqlite:///{tmp_path}/o.db")
    assert proc.returncode == 2 and "bad option" in proc.stderr


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """`folio search … | head -1`: the pipe is closed under folio's output; it stops quietly."""
    store = f"sqlite:///{tmp_path}/p.db"
    folio("index", str(SAMPLES), "--store", store, "--quiet", check=True)
    cmd = [sys.executable, "-m", "search_api.main", "search", "the", "--json", "--store", store]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), cwd=REPO)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before folio (still starting) writes a byte
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_an_embedder_whose_package_is_missing_is_a_clear_error(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['sentence_transformers'] = None\n"  # as if not installed
        "from search_api.main import main\n"
        f"sys.exit(main(['index', {str(SAMPLES)!r}, '--store', 'sqlite:///{tmp_path}/m.db', "
        "'--embedder', 'sentence-transformers:some/model', '--quiet']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=REPO, timeout=120
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "pip install 'sentence-transformers'" in proc.stderr
