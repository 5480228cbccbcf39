"""The upgrade path docs/operations.md recommends, from an OpenSearch 2.19 node to a 3.x one: a
snapshot of every index of the store's prefix (pages, images, documents, failures and the side
indices: keys, ...) restored on the new node, where the store answers as before and takes writes.
Two local nodes of their own, on free ports, sharing one snapshot folder (path.repo)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docstore.opensearch.store import OpenSearchStore
from docstore.schema import FileFailure, Filters, SearchMode, SearchRequest
from search_api.keys import KeyStore
from tests.contract.helpers import MODES, add, doc_info, page, unit
from tests.fixtures.opensearch import SCRIPT, require_node_tools
from tests.fixtures.opensearch_cluster import node_folder

pytestmark = [pytest.mark.slow, pytest.mark.opensearch]

PREFIX = "folio-upgrade"


def _free_port() -> int:
    """A free HTTP port P whose transport port (P + 100) is free too."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 100 >= 65536:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 100))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


def _versions() -> tuple[str, str]:
    """The tested 2.x and 3.x releases (scripts/opensearch-local versions)."""
    proc = subprocess.run([str(SCRIPT), "versions"], capture_output=True, text=True, check=True)
    versions = proc.stdout.split()
    return next(v for v in versions if v.startswith("2.")), next(v for v in versions if v.startswith("3."))


class Node:
    """One local node of a version on a free port; its folder is removed when it stops."""

    def __init__(self, version: str, snapshots: Path) -> None:
        self.version, self.port = version, _free_port()
        self.env = {**os.environ, "FOLIO_OPENSEARCH_SNAPSHOTS": str(snapshots)}
        self.url = f"http://127.0.0.1:{self.port}"

    def _script(self, command: str) -> subprocess.CompletedProcess[str]:
        args = [str(SCRIPT), command, "--port", str(self.port), "--version", self.version]
        return subprocess.run(args, capture_output=True, text=True, env=self.env, timeout=600)

    def start(self) -> None:
        proc = self._script("start")
        assert proc.returncode == 0, f"opensearch-local start failed:\n{proc.stdout}\n{proc.stderr}"

    def stop(self) -> None:
        self._script("stop")
        shutil.rmtree(node_folder(self.version, self.port), ignore_errors=True)

    def client(self) -> Any:
        from opensearchpy import OpenSearch

        return OpenSearch(self.url, timeout=120)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    require_node_tools("the upgrade test")
    old, new = (Node(version, tmp_path / "snapshots") for version in _versions())
    try:
        old.start()
        new.start()
        yield old, new
    finally:
        old.stop()
        new.stop()


def _fill(url: str) -> str:
    """Pages, a document, a failure, meta and an API key in the store; returns the key."""
    store = OpenSearchStore(f"{url}?prefix={PREFIX}")
    try:
        add(store, [
            page("solar", 1, "photovoltaic panels convert sunlight", title="Solar", vector=unit(1, 0)),
            page("solar", 2, "inverters feed the grid", vector=unit(1, 0.5)),
            page("wind", 1, "turbines turn in the wind", acl=["eng"], vector=unit(0, 1)),
        ])  # fmt: skip
        store.begin_document(doc_info("solar", 2))
        store.finish_document("solar")
        store.record_failure(
            FileFailure(doc_id="bad", source="/corpus/bad.pdf", size=1, mtime_ns=2, reason="encrypted")
        )
        store.set_meta("embedder", "hash-8")
        keys = KeyStore(store.shared_state().keys, cache_s=0)
        key, _ = keys.create(["eng"], name="upgrade")
        keys.close()
        store.refresh()
        return key
    finally:
        store.close()


def test_a_store_moves_from_2_to_3_by_snapshot_and_restore(nodes: tuple[Node, Node], tmp_path: Path) -> None:
    old, new = nodes
    key = _fill(old.url)
    location = str(tmp_path / "snapshots" / "folio-upgrade")
    everything = {"indices": f"{PREFIX}-*", "include_global_state": False}

    source = old.client()
    source.snapshot.create_repository(
        repository="folio-upgrade", body={"type": "fs", "settings": {"location": location}}
    )
    snapshot = source.snapshot.create(
        repository="folio-upgrade",
        snapshot="before-3",
        body=everything,
        params={"wait_for_completion": "true"},
    )["snapshot"]
    assert snapshot["state"] == "SUCCESS"
    indices = sorted(source.indices.get(index=f"{PREFIX}-*"))
    assert sorted(snapshot["indices"]) == indices and f"{PREFIX}-keys" in indices
    source.close()

    target = new.client()
    assert target.info()["version"]["number"] == new.version
    # The new cluster only reads the repository (two clusters must never both write one).
    target.snapshot.create_repository(
        repository="folio-upgrade", body={"type": "fs", "settings": {"location": location, "readonly": True}}
    )
    restored = target.snapshot.restore(
        repository="folio-upgrade",
        snapshot="before-3",
        body=everything,
        params={"wait_for_completion": "true"},
    )["snapshot"]
    assert restored["shards"]["failed"] == 0 and sorted(restored["indices"]) == indices
    health = target.cluster.health(index=f"{PREFIX}-*", wait_for_status="yellow")
    assert health["status"] in ("green", "yellow") and not health["timed_out"]
    target.close()

    store = OpenSearchStore(f"{new.url}?prefix={PREFIX}")
    try:
        assert store.count() == 3 and store.get_meta("embedder") == "hash-8"
        assert [d.doc_id for d in store.list_documents()] == ["solar"]
        failure = store.get_failure("bad")
        assert failure is not None and failure.reason == "encrypted"
        for mode in MODES:
            request = SearchRequest(query="panels", vector=unit(1, 0), mode=mode, top_k=3)
            assert store.search(request)[0].page.page_id == "solar:1", mode
        hidden = SearchRequest(query="turbines", vector=unit(0, 1), mode=SearchMode.bm25, top_k=3,
                               filters=Filters(groups=["sales"]))  # fmt: skip
        assert store.search(hidden) == []
        keys = KeyStore(store.shared_state().keys, cache_s=0)
        found = keys.verify(key)
        assert found is not None and found.groups == ["eng"]
        keys.close()
        # Indices made by 2.19 take writes on 3.x.
        add(store, [page("tide", 1, "tidal turbines under the sea", vector=unit(0.2, 1))])
        store.refresh()
        hits = store.search(SearchRequest(query="tidal", mode=SearchMode.bm25, top_k=3))
        assert [h.page.page_id for h in hits] == ["tide:1"]
    finally:
        store.close()
