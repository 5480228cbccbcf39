"""Page references on a rerank server opened on a store (`create_rerank_app` with `store_url`, as
`folio rerank-server --store` builds it), over real HTTP with the tiny m0 checkpoint, on a SQLite
file and on the OpenSearch test node: a `folio-page:` document scores exactly as its page image or
text sent directly, in every dialect; a reference to no page is a 422 naming it; only callers with
the server's key reach the pages; the body OpenSearch's rerank processor sends gets one float
score for every document."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from docstore.candidates import page_ref
from reranker.serving.page_refs import open_page_refs
from reranker.serving.server import RerankServerSettings, create_rerank_app
from reranker.types import ImageInput, TextInput
from tests.integration.page_refs_store import NOTE, PDF, SCAN, b64, fill
from tests.integration.rerank_http import serve_app

KEY = "refs-key"
QUERY = "solar panels"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("opensearch", marks=pytest.mark.opensearch)])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store holding the test pages, filled once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('refs')}/folio.db"
        fill(url)
        yield url
        return
    from opensearchpy import OpenSearch

    node: str = request.getfixturevalue("opensearch_url")
    prefix = f"folio-test-refs-{uuid.uuid4().hex[:8]}"
    fill(f"{node}?prefix={prefix}")
    yield f"{node}?prefix={prefix}"
    client = OpenSearch(node)
    try:
        client.indices.delete(index=f"{prefix}-*", expand_wildcards="all")
    finally:
        client.close()


@pytest.fixture(scope="module")
def server(tiny_m0_cpu: Any, store_url: str) -> Iterator[str]:
    settings = RerankServerSettings(api_key=KEY, batch_window_ms=0, store_url=store_url)
    with serve_app(create_rerank_app(settings, scorer=tiny_m0_cpu)) as url:
        yield url


def _post(url: str, path: str, body: dict[str, Any], headers: dict[str, str] = AUTH) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=60)


def _rerank(url: str, documents: list[Any]) -> dict[int, float]:
    r = _post(url, "/v1/rerank", {"query": QUERY, "documents": documents})
    assert r.status_code == 200, r.text
    return {x["index"]: x["relevance_score"] for x in r.json()["results"]}


def test_references_score_as_the_page_image_or_text_sent_directly(server: str) -> None:
    refs = [page_ref(PDF.page_id), {"text": page_ref(NOTE.page_id)}, page_ref(SCAN.page_id), "plain text"]
    assert PDF.image is not None
    direct = [{"image": b64(PDF.image)}, {"text": NOTE.text}, {"text": SCAN.text}, "plain text"]
    by_ref, sent = _rerank(server, refs), _rerank(server, direct)
    assert sorted(by_ref) == [0, 1, 2, 3]
    for i in by_ref:
        assert by_ref[i] == pytest.approx(sent[i], abs=1e-6), i
    # The PDF page was scored from its image, not its text (the default modality is "image").
    assert abs(by_ref[0] - _rerank(server, [{"text": PDF.text}])[0]) > 1e-4
    # Documents come back as they were sent: the reference, never the page.
    r = _post(server, "/v1/rerank", {"query": QUERY, "documents": refs[:1]})
    assert r.json()["results"][0]["document"] == {"text": page_ref(PDF.page_id)}


def test_cohere_v2_and_vllm_score_resolve_references_too(server: str) -> None:
    refs = [page_ref(PDF.page_id), page_ref(NOTE.page_id)]
    expected = _rerank(server, refs)
    r = _post(server, "/v2/rerank", {"model": "m", "query": QUERY, "documents": refs})
    assert r.status_code == 200, r.text
    assert {x["index"]: x["relevance_score"] for x in r.json()["results"]} == pytest.approx(
        expected, abs=1e-6
    )
    r = _post(server, "/score", {"text_1": QUERY, "text_2": refs})
    assert r.status_code == 200, r.text
    assert [x["score"] for x in r.json()["data"]] == pytest.approx([expected[0], expected[1]], abs=1e-6)


def test_a_reference_to_no_page_is_a_422_naming_it(server: str) -> None:
    docs = [page_ref(PDF.page_id), page_ref("gone:1"), "folio-page:"]
    r = _post(server, "/v1/rerank", {"query": QUERY, "documents": docs})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "documents[1]: no page 'gone:1'" in detail and "documents[2]: no page ''" in detail
    assert "documents[0]" not in detail
    r = _post(server, "/v2/rerank", {"model": "m", "query": QUERY, "documents": docs})
    assert r.status_code == 422 and "documents[1]" in r.json()["message"]
    r = _post(server, "/score", {"text_1": QUERY, "text_2": docs[1:2]})
    assert r.status_code == 422 and "text_2[0]: no page 'gone:1'" in r.json()["message"]


def test_references_resolve_only_for_callers_with_the_key(server: str) -> None:
    body = {"query": QUERY, "documents": [page_ref(PDF.page_id)]}
    assert _post(server, "/v1/rerank", body, headers={}).status_code == 401
    wrong = {"Authorization": "Bearer not-the-key"}
    for path in ("/v1/rerank", "/v2/rerank", "/score"):
        assert _post(server, path, body, headers=wrong).status_code == 401
    assert _post(server, "/v1/rerank", body).status_code == 200


def test_the_rerank_processors_body_gets_a_float_score_for_every_document(server: str) -> None:
    # What ml-commons' cohere rerank pre-process function makes: strings, top_n = their number.
    refs = [page_ref(p.page_id) for p in (NOTE, PDF, SCAN)]
    r = _post(server, "/v1/rerank", {"query": QUERY, "documents": refs, "top_n": len(refs)})
    assert r.status_code == 200, r.text
    # Its post-process function places each score at its index, read as a float: every index once,
    # every score a JSON number with a fraction or an exponent (never an integer literal).
    results = r.json()["results"]
    assert sorted(x["index"] for x in results) == list(range(len(refs)))
    literals = re.findall(r'"relevance_score":\s*([^,}\s]+)', r.text)
    assert len(literals) == len(refs) and all(re.search(r"[.eE]", x) for x in literals), literals
    assert all(isinstance(json.loads(x), float) for x in literals)


def test_modality_rule_is_the_search_apis(store_url: str) -> None:
    """The resolver on the same store: PDF pages follow the setting, text documents are text, a
    PDF page without a stored image is its text."""
    refs = [page_ref(PDF.page_id), page_ref(SCAN.page_id), page_ref(NOTE.page_id), "plain"]
    for setting, first in (("image", ImageInput(PDF.image)), ("text", TextInput(PDF.text))):
        resolver = open_page_refs(store_url, setting)  # type: ignore[arg-type]
        try:
            assert resolver(refs) == [first, TextInput(SCAN.text), TextInput(NOTE.text), "plain"]
        finally:
            resolver.close()


def test_without_a_store_a_reference_is_text(tiny_m0_cpu: Any) -> None:
    app = create_rerank_app(RerankServerSettings(batch_window_ms=0), scorer=tiny_m0_cpu)
    with serve_app(app) as url:
        ref = page_ref("gone:1")
        assert _rerank(url, [ref]) == pytest.approx(_rerank(url, [{"text": ref}]), abs=1e-6)


def test_an_unreachable_store_is_a_503_not_a_500(tiny_m0_cpu: Any) -> None:
    settings = RerankServerSettings(batch_window_ms=0, store_url="opensearch://127.0.0.1:9?prefix=none")
    with serve_app(create_rerank_app(settings, scorer=tiny_m0_cpu)) as url:
        body = {"query": QUERY, "documents": [page_ref("a:1"), "text"]}
        r = _post(url, "/v1/rerank", body, headers={})
        assert r.status_code == 503 and "page store is unavailable" in r.json()["detail"], r.text
        # documents without references never touch the store
        assert (
            _post(url, "/v1/rerank", {"query": QUERY, "documents": ["text"]}, headers={}).status_code == 200
        )
