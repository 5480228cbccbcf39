"""`folio index --ray` on a local two-node Ray cluster (scripts/ray-local), in real processes: the
same pages as a local run (ids, text, images, vectors, failure reasons), both nodes doing page
work, and a node lost mid-run (its raylet SIGKILLed) costing no page and storing none twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from docstore.schema import page_id
from docstore.sqlite.store import SqliteStore
from indexer.text import detect_language
from tests.fixtures.paths import REPO
from tests.fixtures.ray_cluster import RayCluster
from tests.fixtures.s3 import S3Server

pytestmark = [pytest.mark.ray, pytest.mark.cluster, pytest.mark.slow]

# GeoTopo's 117 pages make the run long enough to lose a node in the middle of it; the rest are a
# text-layer file, a two-column one, a scan (OCR), a repairable one, and three that cannot be
# indexed (encrypted, damaged, empty).
FILES = [
    "GeoTopo-komprimiert.pdf",
    "pdflatex-4-pages.pdf",
    "multicolumn.pdf",
    "cmyk-image.pdf",
    "issue-297.pdf",
    "libreoffice-writer-password.pdf",
    "hostile/poppler-742-0-fuzzed.pdf",
    "hostile/GHOSTSCRIPT-698804-1-fuzzed.pdf",
]


def _index(
    paths: list[Path] | list[str], store_url: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "search_api.main", "index", *map(str, paths), "--store", store_url]
    cmd += ["--embedder", "hash", "--json", "--quiet", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _summary(proc: subprocess.Popen[str], timeout: float = 240) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    summary: dict[str, Any] = json.loads(out)
    return summary


def _pages(store_url: str) -> dict[str, Any]:
    """Every stored page by id, with its image, thumbnail, word boxes and vector; and the check
    that no page is stored twice and no document is left incomplete."""
    store = SqliteStore(store_url)
    try:
        docs = store.list_documents()
        assert all(d.complete for d in docs)
        ids = [page_id(d.doc_id, n) for d in docs for n in range(1, d.page_count + 1)]
        pages = {i: store.get_page(i) for i in ids}
        assert store.count() == len(ids)
        return {i: p for i, p in pages.items() if p is not None}
    finally:
        store.close()


def _failures(summary: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    def key(entry: dict[str, Any]) -> tuple[str, int]:
        return entry["source"], entry.get("page_number", 0)

    return sorted(summary["skipped"], key=key), sorted(summary["failed_pages"], key=key)


@pytest.fixture(scope="module")
def corpus(shared_pdfs: Path) -> list[Path]:
    return [shared_pdfs / name for name in FILES]


@pytest.fixture(scope="module")
def local_run(
    corpus: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('local')}/folio.db"
    return _summary(_index(corpus, url, "--workers", "2")), _pages(url)


def test_two_nodes_index_as_a_local_run_does(
    ray_cluster: RayCluster,
    corpus: list[Path],
    local_run: tuple[dict[str, Any], dict[str, Any]],
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/folio.db"
    summary = _summary(_index(corpus, url, "--ray", ray_cluster.address))
    local_summary, local_pages = local_run
    pages = _pages(url)
    assert sorted(pages) == sorted(local_pages) and len(pages) == 117 + 4 + 3 + 1 + 1
    for pid, page in pages.items():
        ref = local_pages[pid]
        same = ("text", "ocr", "has_figures", "image", "thumbnail", "word_boxes", "title")
        assert {k: getattr(page, k) for k in same} == {k: getattr(ref, k) for k in same}, pid
        # A page too short to tell takes the language of the pages before it, which depends on the
        # order pages arrive in (two local workers vary it too): only a page's own one must match.
        if detect_language(page.text):
            assert page.language == ref.language, pid
        assert np.allclose(page.embedding, ref.embedding, atol=1e-6), pid
    # Failures are reported by reason exactly as a local run reports them (in the order they came).
    assert _failures(summary) == _failures(local_summary)
    assert (summary["files_indexed"], summary["pages_indexed"]) == (
        local_summary["files_indexed"], local_summary["pages_indexed"],
    )  # fmt: skip
    assert {s["reason"].split(" (")[0] for s in summary["skipped"]} == {"encrypted", "damaged", "empty"}
    # Both nodes did page work, and the count covers every page of the run.
    assert len(summary["pages_per_node"]) == 2 and all(n > 0 for n in summary["pages_per_node"].values())
    assert sum(summary["pages_per_node"].values()) == summary["pages_indexed"]
    assert local_summary["pages_per_node"] == {}


def test_a_lost_node_costs_no_page(
    ray_cluster: RayCluster,
    corpus: list[Path],
    local_run: tuple[dict[str, Any], dict[str, Any]],
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/folio.db"
    proc = _index(corpus, url, "--ray", ray_cluster.address)
    store = SqliteStore(url)
    try:
        deadline = time.monotonic() + 120
        while store.count() < 32:  # the first batch is written: both nodes are at work
            assert proc.poll() is None, "the run ended before the node could be killed"
            assert time.monotonic() < deadline, "the run wrote no pages"
            time.sleep(0.05)
    finally:
        store.close()
    os.kill(ray_cluster.raylet_pid(1), signal.SIGKILL)
    assert proc.poll() is None, "the run ended before the node was killed"
    summary = _summary(proc)
    assert len(summary["pages_per_node"]) == 2  # the lost node had done pages before it went
    pages = _pages(url)
    if len(pages) < len(local_run[1]):  # what the run could not finish, the next one does
        _summary(_index(corpus, url, "--ray", ray_cluster.address))
        pages = _pages(url)
    assert sorted(pages) == sorted(local_run[1])  # every page, once (_pages checks the count)
    assert _failures(summary) == _failures(local_run[0])


def test_a_page_past_its_deadline_is_cancelled_and_reported(
    ray_cluster: RayCluster, shared_pdfs: Path
) -> None:
    """As the local pool does: the page fails "timed out after N s", its Ray worker is killed, and
    the pool goes on with the next task."""
    from indexer.ocr import find_ocr
    from indexer.ray_pool import RayPool
    from indexer.workers import Task, WorkerSettings

    scan = str(shared_pdfs / "imagemagick-images.pdf")  # OCR: well over 0.2 s a page
    with RayPool(ray_cluster.address, WorkerSettings(ocr=find_ocr()), task_timeout=0.2) as pool:
        pool.submit(Task(1, "page", scan, 0))
        results = _drain(pool)
        assert [(r.task.task_id, r.error) for r in results] == [(1, "timed out after 0.2 s")]
        assert pool.restarts == 1
        pool.task_timeout = 60
        pool.submit(Task(2, "page", str(shared_pdfs / "minimal-document.pdf"), 0))
        (result,) = _drain(pool)
        assert result.error is None and result.value.text and result.node


def _drain(pool: Any, timeout: float = 120) -> list[Any]:
    results: list[Any] = []
    deadline = time.monotonic() + timeout
    while pool.busy and time.monotonic() < deadline:
        results += pool.poll(0.05)
    return results


@pytest.mark.s3
def test_objects_in_s3_are_indexed_on_the_cluster_as_locally(
    ray_cluster: RayCluster, s3_server: S3Server, shared_pdfs: Path, tmp_path: Path
) -> None:
    """The driver downloads each object and sends its bytes to the nodes: the pages are those of a
    local run over the same objects, the broken object fails alone with the same reason."""
    s3, bucket = s3_server.client(), s3_server.new_bucket()
    for name in ("multicolumn.pdf", "minimal-document.pdf", "hostile/poppler-742-0-fuzzed.pdf"):
        s3.upload_file(str(shared_pdfs / name), bucket, f"docs/{Path(name).name}")
    prefix = f"s3://{bucket}/docs/"
    runs = {}
    for name, extra in (("local", ("--workers", "1")), ("ray", ("--ray", ray_cluster.address))):
        url = f"sqlite:///{tmp_path}/{name}.db"
        proc = _index([prefix], url, *extra, env=s3_server.env())
        runs[name] = (_summary(proc), _pages(url))
    (local_summary, local_pages), (ray_summary, ray_pages) = runs["local"], runs["ray"]
    assert sorted(ray_pages) == sorted(local_pages) and len(local_pages) == 4
    assert ray_summary["files_indexed"] == local_summary["files_indexed"] == 2
    assert _failures(ray_summary) == _failures(local_summary) != ([], [])
