"""A three-node cluster losing a node: `folio index` of the shared corpus (its top folder; the
hostile files below it test the indexer, not the cluster) into a store with three shards and one
replica, one node SIGKILLed mid-run. The run (or a re-run) stores every page exactly once,
searches made while the node is down answer, and once `opensearch-local start` brings the node
back the cluster is green again."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from docstore.opensearch.store import OpenSearchStore
from docstore.schema import SearchMode, SearchRequest
from tests.fixtures.opensearch_cluster import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.opensearch]

REPO = Path(__file__).resolve().parents[2]


def _index(paths: list[Path], store: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "search_api.main", "index", *map(str, paths), "--store", store]
    cmd += ["--json", "--quiet"]
    env = {**os.environ, "FOLIO_EMBEDDER": "hash", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def _expected_pages(corpus: list[Path], tmp_path: Path) -> dict[str, str]:
    """page_id -> text of every page the same run stores in SQLite (the reference)."""
    db = tmp_path / "reference.db"
    code, _, err = _finish(_index(corpus, f"sqlite:///{db}"))
    assert code == 0, err
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT page_id, text FROM pages"))


def _status(store: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "search_api.main", "status", "--store", store, "--json"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def _stored_page_ids(client: Any, index: str) -> list[str]:
    from opensearchpy import helpers

    client.indices.refresh(index=index)
    hits = helpers.scan(client, index=index, query={"_source": ["page_id"]})
    return [h["_source"]["page_id"] for h in hits]


def _cluster_manager_port(client: Any) -> int:
    name = client.cat.cluster_manager(format="json")[0]["node"]  # <cluster>-<http port>
    return int(str(name).rsplit("-", 1)[1])


def test_a_killed_node_loses_no_page_and_the_cluster_heals(
    opensearch_cluster: LocalCluster, shared_pdfs: Path, tmp_path: Path
) -> None:
    corpus = sorted(p for p in shared_pdfs.iterdir() if p.is_file())
    expected = _expected_pages(corpus, tmp_path)
    assert len(expected) > 100
    words = max(expected.values(), key=len).split()[:3]  # words some stored page holds
    prefix = f"folio-cluster-{uuid.uuid4().hex[:8]}"
    url = opensearch_cluster.store_url(prefix=prefix, shards=3, replicas=1)
    client = opensearch_cluster.client()
    store = OpenSearchStore(url)
    try:
        run = _index(corpus, url)
        # Kill once pages are being written and the store's indices hold both copies of each shard
        # (a shard whose copy is still being made has no second copy to promote).
        while run.poll() is None and store.count() == 0:
            time.sleep(0.2)
        health = client.cluster.health(
            index=f"{prefix}-*", wait_for_status="green", timeout="60s", request_timeout=90
        )
        assert health["status"] == "green"
        assert run.poll() is None, "the run ended before a node could be killed mid-run"
        victim = _cluster_manager_port(client)  # the harshest loss: shards and the elected manager
        opensearch_cluster.kill(victim)

        query = SearchRequest(query=" ".join(words), mode=SearchMode.bm25, top_k=5)
        searched = 0
        while run.poll() is None:  # each answers (a failed search raises); hits depend on what is in
            store.search(query)
            searched += 1
            time.sleep(0.5)
        code, out, err = _finish(run)
        print(f"node {victim} killed; {searched} searches while it was down; the run exited {code}")
        if code != 0:  # the node loss may fail the run (StoreUnavailable); a re-run finishes it
            code, out, err = _finish(_index(corpus, url))
        assert code == 0, err
        assert json.loads(out)["failed_pages"] == []

        # Still one node down: searches answer, and every page is stored exactly once.
        assert store.search(query)
        stored = _stored_page_ids(client, f"{prefix}-pages")
        assert [pid for pid, n in Counter(stored).items() if n > 1] == []
        assert set(stored) == set(expected)
        status = _status(url)
        assert (status["pages"], status["incomplete_documents"]) == (len(expected), [])

        opensearch_cluster.start()  # only the killed node starts
        health = client.cluster.health(
            wait_for_status="green", wait_for_nodes="3", timeout="120s", request_timeout=150
        )
        assert (health["status"], health["number_of_nodes"]) == ("green", 3)
        assert store.count() == len(expected)
        assert sorted(_stored_page_ids(client, f"{prefix}-pages")) == sorted(expected)
    finally:
        store.close()
        client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        client.close()
