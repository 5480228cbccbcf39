"""Folio's m0 inside OpenSearch, on a real node with the ML Commons, job-scheduler and neural-search
plugins (`scripts/opensearch-local start --plugins ml`): `folio opensearch install-reranker` wires a
`folio rerank-server --store` (the tiny m0 checkpoint) into a search pipeline, and a plain
`_search` through that pipeline comes back in the order and with the scores `/v1/rerank` gives the
same page references (PDF pages scored from their page images); `hybrid` queries are fused by RRF
first; a reranker that is down leaves the first-stage order (or fails the search, when installed
with --fail-when-down) while Folio's own `/v1/search` keeps answering; `uninstall-reranker` leaves
nothing behind."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opensearchpy import TransportError

from docstore.embedders.base import encode_queries
from docstore.embedders.binding import query_embedder
from docstore.fusion import rrf_fuse
from docstore.opensearch.ml_reranker import RRF_RANK_CONSTANT, reranker_name, rrf_processor
from docstore.store import open_store
from tests.fixtures.api_server import (
    REPO,
    ServerStartError,
    StartServer,
    free_port,
    index_files,
    wait_until_healthy,
)

pytestmark = [pytest.mark.opensearch, pytest.mark.slow]

KEY = "pipeline-test-key"
PIPELINE = "folio-m0"
TOLERANCE = 1e-6
TEXTS = {
    "roof.txt": "Solar panels on the roof face south; the panels need cleaning twice a year.",
    "inverter.txt": "The inverter turns the panels' direct current into alternating current.",
    "garden.txt": "Garden notes: tomatoes, beans, and a small solar lamp beside the panels path.",
    "budget.txt": "Budget for the year: new panels, a battery, and the inverter service.",
}


def folio(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    return subprocess.run(
        [sys.executable, "-m", "search_api.main", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


@dataclass
class Corpus:
    node: str  # the node's URL
    store_url: str
    pages_index: str
    client: Any

    def search(self, body: dict[str, Any], pipeline: str | None = None) -> list[dict[str, Any]]:
        params = {"search_pipeline": pipeline} if pipeline else {}
        return list(self.client.search(index=self.pages_index, body=body, params=params)["hits"]["hits"])


@pytest.fixture(scope="module")
def corpus(ml_opensearch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    """Six PDF pages (collection `pdf`, scored as images) and four text pages (collection `notes`),
    indexed with the real pipeline (hash embedder, so hybrid queries have vectors)."""
    from opensearchpy import OpenSearch

    prefix = f"folio-pipe-{uuid.uuid4().hex[:8]}"
    store_url = f"{ml_opensearch_url}?prefix={prefix}"
    folder = tmp_path_factory.mktemp("notes")
    for name, text in TEXTS.items():
        (folder / name).write_text(text)
    pdfs = [
        REPO / "samples" / n for n in ("reranking-overview.pdf", "dokumentensuche.pdf", "search-zh-ja.pdf")
    ]
    assert index_files(store_url, pdfs, collection="pdf") == 6
    assert index_files(store_url, sorted(folder.iterdir()), collection="notes") == len(TEXTS)
    client = OpenSearch(ml_opensearch_url, timeout=120)
    try:
        yield Corpus(ml_opensearch_url, store_url, f"{prefix}-pages", client)
    finally:
        client.indices.delete(index=f"{prefix}-*", expand_wildcards="all")
        client.close()


@pytest.fixture(scope="module")
def settings_before(corpus: Corpus) -> dict[str, Any]:
    """The node's persistent cluster settings before any install."""
    return dict(corpus.client.cluster.get_settings()["persistent"])


@pytest.fixture(scope="module")
def rerank_server(
    tiny_m0_dir: Path, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`folio rerank-server --store` on the corpus, with an API key, on a loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("rerank-server") / "server.log"
    cmd = [sys.executable, "-m", "search_api.main", "rerank-server", "--model", str(tiny_m0_dir),
           "--store", corpus.store_url, "--port", str(port), "--api-key", KEY,
           "--device", "cpu", "--dtype", "float32"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(url, proc, 180, lambda: log.read_text(errors="replace"), "rerank-server")
        yield url
    except ServerStartError as exc:
        pytest.fail(str(exc))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _install(*args: str) -> dict[str, Any]:
    done = folio("opensearch", "install-reranker", *args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _uninstall(store_url: str, pipeline: str) -> dict[str, Any]:
    done = folio("opensearch", "uninstall-reranker", "--store", store_url, "--pipeline", pipeline)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def installed(
    corpus: Corpus, settings_before: dict[str, Any], rerank_server: str
) -> Iterator[dict[str, Any]]:
    args = (
        "--store",
        corpus.store_url,
        "--reranker-url",
        rerank_server,
        "--api-key",
        KEY,
        "--allow-private-endpoint",
    )
    result = _install(*args)
    try:
        yield result
    finally:
        _uninstall(corpus.store_url, PIPELINE)  # again, if the uninstall test did not run


def _rerank(server: str, query: str, documents: list[Any]) -> dict[int, float]:
    """Scores by document index, from the rerank server's own /v1/rerank."""
    body = {"query": query, "documents": documents, "return_documents": False}
    resp = httpx.post(
        f"{server}/v1/rerank", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=120
    )
    assert resp.status_code == 200, resp.text
    return {r["index"]: r["relevance_score"] for r in resp.json()["results"]}


def _assert_reranked(
    hits: list[dict[str, Any]], first: list[dict[str, Any]], expected: dict[str, float]
) -> None:
    """The pipeline's hits are the first-stage hits, each with the rerank server's score, best first."""
    assert sorted(h["_id"] for h in hits) == sorted(h["_id"] for h in first)
    for hit in hits:
        assert hit["_score"] == pytest.approx(expected[hit["_id"]], abs=TOLERANCE), hit["_id"]
    scores = [h["_score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def _bm25(text: str, collection: str, size: int = 10) -> dict[str, Any]:
    return {"size": size, "query": {"bool": {"must": [{"match": {"content": text}}],
                                            "filter": [{"term": {"collection": collection}}]}}}  # fmt: skip


def _ext(text: str) -> dict[str, Any]:
    return {"ext": {"rerank": {"query_context": {"query_text": text}}}}


def test_install_prints_ids_and_is_idempotent(
    corpus: Corpus, installed: dict[str, Any], rerank_server: str
) -> None:
    assert installed["pipeline"] == PIPELINE and installed["pages_index"] == corpus.pages_index
    assert installed["connector_id"] and installed["model_id"] and installed["pages_without_ref"] == 0
    again = _install("--store", corpus.store_url, "--reranker-url", rerank_server, "--api-key", KEY,
                     "--allow-private-endpoint")  # fmt: skip
    assert again == installed
    pipeline = corpus.client.transport.perform_request("GET", f"/_search/pipeline/{PIPELINE}")[PIPELINE]
    major = int(corpus.client.info()["version"]["number"].split(".")[0])
    assert pipeline["phase_results_processors"] == [rrf_processor(major)]  # k where that line reads it
    rerank = pipeline["response_processors"][0]["rerank"]
    assert rerank["ml_opensearch"]["model_id"] == installed["model_id"]
    assert rerank["context"]["document_fields"] == ["rerank_ref"]
    # Only queries that name the pipeline go through it: Folio's own searches never do.
    settings = corpus.client.indices.get_settings(index=corpus.pages_index, include_defaults=True)
    assert settings[corpus.pages_index]["defaults"]["index"]["search"]["default_pipeline"] == "_none"


def test_the_model_scores_references_through_ml_commons_as_the_rerank_server_does(
    corpus: Corpus, installed: dict[str, Any], rerank_server: str
) -> None:
    """The connector's round trip alone (what the pipeline's rerank step calls): ML Commons'
    text-similarity prediction returns the server's score for each reference, in input order."""
    refs = [h["_source"]["rerank_ref"] for h in corpus.search(_bm25("panels", "notes"))]
    body = {"query_text": "cleaning the solar panels", "text_docs": refs}
    path = f"/_plugins/_ml/_predict/text_similarity/{installed['model_id']}"
    try:
        out = corpus.client.transport.perform_request("POST", path, body=body)
    except TransportError as exc:  # say what ML Commons could not do with the server's answer
        pytest.fail(f"ML Commons failed on the rerank server's answer: {exc.info}")
    scores = [t["data"][0] for t in out["inference_results"][0]["output"]]
    by_ref = _rerank(rerank_server, "cleaning the solar panels", refs)
    assert scores == pytest.approx([by_ref[i] for i in range(len(refs))], abs=TOLERANCE)


def test_a_plain_search_over_image_pages_comes_back_as_the_rerank_server_orders_it(
    corpus: Corpus, installed: dict[str, Any], rerank_server: str
) -> None:
    query = "how are search results reranked"
    first = corpus.search(_bm25("search reranking BM25", "pdf"))
    assert len(first) >= 3
    refs = [h["_source"]["rerank_ref"] for h in first]
    assert refs == [f"folio-page:{h['_id']}" for h in first]
    by_ref = _rerank(rerank_server, query, refs)
    expected = {h["_id"]: by_ref[i] for i, h in enumerate(first)}
    hits = corpus.search({**_bm25("search reranking BM25", "pdf"), **_ext(query)}, PIPELINE)
    _assert_reranked(hits, first, expected)
    # The server scored each PDF page from its page image: the same scores as the images sent directly.
    store = open_store(corpus.store_url)
    try:
        pngs = [store.get_image(h["_id"]) for h in first]
    finally:
        store.close()
    assert all(pngs)
    images = [{"image": base64.b64encode(png or b"").decode()} for png in pngs]
    by_image = _rerank(rerank_server, query, images)
    assert [by_image[i] for i in range(len(first))] == pytest.approx(
        [by_ref[i] for i in range(len(first))], abs=TOLERANCE
    )


def test_a_plain_search_over_text_pages_comes_back_as_the_rerank_server_orders_it(
    corpus: Corpus, installed: dict[str, Any], rerank_server: str
) -> None:
    query = "cleaning the solar panels"
    first = corpus.search(_bm25("panels", "notes"))
    assert len(first) == len(TEXTS)
    by_ref = _rerank(rerank_server, query, [h["_source"]["rerank_ref"] for h in first])
    expected = {h["_id"]: by_ref[i] for i, h in enumerate(first)}
    hits = corpus.search({**_bm25("panels", "notes"), **_ext(query)}, PIPELINE)
    _assert_reranked(hits, first, expected)
    # A text page is scored from its text.
    by_text = _rerank(rerank_server, query, [h["_source"]["text"] for h in first])
    assert [by_text[i] for i in range(len(first))] == pytest.approx(
        [by_ref[i] for i in range(len(first))], abs=TOLERANCE
    )


def _hybrid(corpus: Corpus, text: str, size: int) -> tuple[dict[str, Any], list[str], list[str]]:
    """A hybrid query (BM25 + kNN with the store's query embedder) and each half's own ranking."""
    store = open_store(corpus.store_url)
    try:
        embedder = query_embedder(store)
        assert embedder is not None
        vector = encode_queries(embedder, [text])[0].tolist()
    finally:
        store.close()
    bm25 = {"match": {"content": text}}
    knn = {"knn": {"embedding": {"vector": vector, "k": size}}}
    lexical = [h["_id"] for h in corpus.search({"size": size, "query": bm25})]
    semantic = [h["_id"] for h in corpus.search({"size": size, "query": knn})]
    return {"size": size, "query": {"hybrid": {"queries": [bm25, knn]}}}, lexical, semantic


def test_a_hybrid_query_is_fused_by_rrf_then_reranked(
    corpus: Corpus, installed: dict[str, Any], rerank_server: str
) -> None:
    text = "solar panels inverter"
    body, lexical, semantic = _hybrid(corpus, text, 5)
    assert lexical and semantic and lexical != semantic
    # Without a rerank context the reranker is skipped: the hits are RRF's (the pipeline's RRF
    # weighs both rankings alike).
    fused = corpus.search(body, PIPELINE)
    expected_rrf = dict(rrf_fuse([lexical, semantic], k=RRF_RANK_CONSTANT)[:5])
    assert {h["_id"] for h in fused} == set(expected_rrf)
    for hit in fused:
        assert hit["_score"] == pytest.approx(expected_rrf[hit["_id"]], abs=TOLERANCE)
    # With it, those fused hits come back reranked.
    by_ref = _rerank(rerank_server, text, [h["_source"]["rerank_ref"] for h in fused])
    expected = {h["_id"]: by_ref[i] for i, h in enumerate(fused)}
    hits = corpus.search({**body, **_ext(text)}, PIPELINE)
    _assert_reranked(hits, fused, expected)


def test_a_reranker_that_is_down_leaves_the_first_stage_order_or_fails_when_asked(
    corpus: Corpus, installed: dict[str, Any], api_server: StartServer
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    common = ("--store", corpus.store_url, "--reranker-url", dead, "--allow-private-endpoint")
    _install(*common, "--pipeline", "folio-m0-down")
    _install(*common, "--pipeline", "folio-m0-strict", "--fail-when-down")
    try:
        body = _bm25("panels", "notes")
        first = corpus.search(body)
        hits = corpus.search({**body, **_ext("panels")}, "folio-m0-down")
        assert [(h["_id"], h["_score"]) for h in hits] == [(h["_id"], h["_score"]) for h in first]
        with pytest.raises(TransportError) as failed:
            corpus.search({**body, **_ext("panels")}, "folio-m0-strict")
        assert failed.value.status_code == 500 and "remote model" in str(failed.value.info)
        # Folio's own search API on the same store, with that reranker down, answers in first-stage order.
        server = api_server(corpus.store_url, reranker=f"remote:{dead}", anonymous=True)
        with server.client() as client:
            resp = client.post("/v1/search", json={"query": "panels", "mode": "bm25", "collection": "notes"})
        assert resp.status_code == 200, resp.text
        found = resp.json()
        assert found["reranked"] is False and found["hits"]
        assert [h["page_id"] for h in found["hits"]] == [h["_id"] for h in first]
    finally:
        _uninstall(corpus.store_url, "folio-m0-down")
        _uninstall(corpus.store_url, "folio-m0-strict")


def test_a_reference_to_no_page_leaves_the_first_stage_order(
    corpus: Corpus, installed: dict[str, Any]
) -> None:
    """The server refuses a call naming a page that is not in the store (422); the pipeline then
    keeps the first-stage order, as for any failure of the reranker."""
    ghost = {"page_id": "ghost:1", "doc_id": "ghost", "collection": "notes", "source": "/ghost.txt",
             "content_hash": "h", "page_number": 1, "page_count": 1, "kind": "text",
             "text": "panels nobody indexed", "rerank_ref": "folio-page:gone:9"}  # fmt: skip
    corpus.client.index(index=corpus.pages_index, id="ghost:1", body=ghost, refresh=True)
    try:
        body = _bm25("panels", "notes")
        first = corpus.search(body)
        assert "ghost:1" in {h["_id"] for h in first}
        hits = corpus.search({**body, **_ext("panels")}, PIPELINE)
        assert [(h["_id"], h["_score"]) for h in hits] == [(h["_id"], h["_score"]) for h in first]
    finally:
        corpus.client.delete(index=corpus.pages_index, id="ghost:1", refresh=True)


def test_uninstall_leaves_nothing_behind(
    corpus: Corpus, installed: dict[str, Any], settings_before: dict[str, Any]
) -> None:
    removed = _uninstall(corpus.store_url, PIPELINE)["removed"]
    assert removed["pipeline"] is True
    assert removed["model_ids"] == [installed["model_id"]]
    assert removed["connector_ids"] == [installed["connector_id"]]
    assert removed["model_group_ids"] == [installed["model_group_id"]]
    client = corpus.client
    pipelines = client.transport.perform_request("GET", "/_search/pipeline", params={"ignore": 404})
    assert not [p for p in pipelines if p.startswith(PIPELINE)]  # 404 without any pipeline
    ours = {reranker_name(p) for p in (PIPELINE, "folio-m0-down", "folio-m0-strict")}
    for kind in ("connectors", "models", "model_groups"):
        body = {"query": {"match_all": {}}, "size": 1000}
        found = client.transport.perform_request("POST", f"/_plugins/_ml/{kind}/_search", body=body)
        assert not ours & {h["_source"].get("name") for h in found["hits"]["hits"]}, kind
    assert client.cluster.get_settings()["persistent"] == settings_before
    again = _uninstall(corpus.store_url, PIPELINE)["removed"]  # a second run finds nothing to remove
    assert again == {
        "pipeline": False,
        "model_ids": [],
        "model_group_ids": [],
        "connector_ids": [],
        "settings": [],
    }
