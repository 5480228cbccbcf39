"""The rerank dialects people already use, against a rerank server on the tiny m0 checkpoint over real
HTTP: Cohere v2 and v1 through their real clients (Cohere's SDK, LiteLLM, LangChain), vLLM's score
and rerank shapes as vLLM's documentation sends them, `/v1/models`; one test through `folio serve`.
Every dialect gives the Jina path's scores for the same pairs, with and without truncation, and
the engine's queue and inference time in TEI's headers. The clients may reach this machine only:
any other address fails the test."""

from __future__ import annotations

import base64
import importlib.metadata
import io
import math
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from reranker.serving.server import RerankServerSettings, create_rerank_app
from tests.fixtures.api_server import StartServer
from tests.integration.rerank_http import serve_app

KEY = "dialect-key"
MODEL = "jina-reranker-m0"
QUERY = "plants"
DOCS = ["a note on photosynthesis in plants", "quarterly revenue table", "small language models"]
LONG = " ".join(f"word{i} about leaves and light" for i in range(120))  # ~600 tokens
CAP = 16


def _data_url(color: str, size: tuple[int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


RED, BLUE = _data_url("red", (56, 56)), _data_url("blue", (84, 56))


@pytest.fixture(scope="module")
def model(tiny_m0_dir: Path) -> Iterator[Any]:
    from reranker.m0.reranker import M0Reranker

    m = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", dtype="float32", model_name=MODEL)
    yield m
    m.close()


@pytest.fixture(scope="module")
def url(model: Any) -> Iterator[str]:
    app = create_rerank_app(RerankServerSettings(api_key=KEY, batch_window_ms=0), scorer=model)
    with serve_app(app) as base:
        yield base


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Connections and name lookups beyond loopback are refused and recorded; none may happen."""
    attempts: list[object] = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo
    local = {"127.0.0.1", "::1", "localhost"}

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and str(address[0]) not in local:
            attempts.append(address)
            raise OSError(f"this test runs offline: no connection to {address}")
        connect(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and str(host) not in local:
            attempts.append(host)
            raise socket.gaierror(f"this test runs offline: no lookup of {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    # LiteLLM fetches its model cost map at import unless told to use the copy it ships.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    yield attempts
    assert not attempts, f"a client tried to reach the network: {attempts}"


def _post(base: str, path: str, body: Any, key: str = KEY) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def _jina(base: str, documents: list[Any], **extra: Any) -> tuple[dict[int, float], int]:
    """The Jina path's scores by document index, and its usage."""
    r = _post(base, "/v1/rerank", {"model": MODEL, "query": QUERY, "documents": documents, **extra})
    assert r.status_code == 200, r.text
    return {x["index"]: x["relevance_score"] for x in r.json()["results"]}, r.json()["usage"]["total_tokens"]


def _top(scores: dict[int, float], n: int) -> list[int]:
    return sorted(scores, key=lambda i: (-scores[i], i))[:n]


def test_cohere_v2_over_http_answers_cohere_shape_with_the_jina_scores(url: str) -> None:
    expected, tokens = _jina(url, DOCS)
    r = _post(url, "/v2/rerank", {"model": "rerank-v3.5", "query": QUERY, "documents": DOCS, "top_n": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"id", "results", "meta"}
    assert [x["index"] for x in body["results"]] == _top(expected, 2)
    for x in body["results"]:
        assert x["relevance_score"] == pytest.approx(expected[x["index"]], abs=1e-5)
    assert body["meta"]["billed_units"] == {"search_units": 1}
    assert body["meta"]["tokens"] == {"input_tokens": tokens, "output_tokens": 0}


def test_cohere_sdk_v2_and_v1_clients_with_a_base_url(url: str, offline: list[object]) -> None:
    cohere = pytest.importorskip("cohere")
    expected, _ = _jina(url, DOCS)
    v2 = cohere.ClientV2(api_key=KEY, base_url=url).rerank(model=MODEL, query=QUERY, documents=DOCS, top_n=2)
    assert [x.index for x in v2.results] == _top(expected, 2)
    assert [x.relevance_score for x in v2.results] == pytest.approx(
        [expected[i] for i in _top(expected, 2)], abs=1e-5
    )
    assert v2.id and v2.meta.billed_units.search_units == 1
    cut, _ = _jina(url, [LONG, *DOCS], max_tokens_per_doc=CAP)
    capped = cohere.ClientV2(api_key=KEY, base_url=url).rerank(
        model=MODEL, query=QUERY, documents=[LONG, *DOCS], max_tokens_per_doc=CAP
    )
    assert {x.index: x.relevance_score for x in capped.results} == pytest.approx(cut, abs=1e-5)
    # Cohere's v1 requests are the Jina contract's; the v1 client reads its answer
    v1 = cohere.Client(api_key=KEY, base_url=url).rerank(
        model=MODEL, query=QUERY, documents=DOCS, top_n=2, return_documents=True
    )
    assert [(x.index, x.document.text) for x in v1.results] == [(i, DOCS[i]) for i in _top(expected, 2)]
    assert [x.relevance_score for x in v1.results] == pytest.approx(
        [expected[i] for i in _top(expected, 2)], abs=1e-5
    )
    with pytest.raises(cohere.core.ApiError) as refused:
        cohere.ClientV2(api_key="wrong", base_url=url).rerank(model=MODEL, query=QUERY, documents=DOCS)
    assert refused.value.status_code == 401 and "invalid API key" in refused.value.body["message"]


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic's, about LiteLLM's own types
def test_litellm_cohere_hosted_vllm_and_jina_providers(url: str, offline: list[object]) -> None:
    litellm = pytest.importorskip("litellm")
    expected, tokens = _jina(url, DOCS)
    best = _top(expected, 2)

    def rerank(model: str, api_base: str, **kw: Any) -> Any:
        return litellm.rerank(model=model, query=QUERY, documents=DOCS, api_base=api_base, api_key=KEY, **kw)

    answers = {
        "cohere v2": rerank(f"cohere/{MODEL}", url, top_n=2),  # the 404 of the issue: /v2/rerank
        "cohere v1": rerank(f"cohere/{MODEL}", f"{url}/v1/rerank", top_n=2),
        "hosted_vllm": rerank(f"hosted_vllm/{MODEL}", url, top_n=2),  # vLLM's /rerank
        "jina_ai": rerank(f"jina_ai/{MODEL}", url, top_n=2),
    }
    for name, out in answers.items():
        assert [x["index"] for x in out.results] == best, name
        assert [x["relevance_score"] for x in out.results] == pytest.approx(
            [expected[i] for i in best], abs=1e-5
        )
    assert answers["cohere v2"].meta["tokens"]["input_tokens"] == tokens
    capped = rerank(f"cohere/{MODEL}", url, max_tokens_per_doc=CAP)
    assert {x["index"]: x["relevance_score"] for x in capped.results} == pytest.approx(
        _jina(url, DOCS, max_tokens_per_doc=CAP)[0], abs=1e-5
    )
    with pytest.raises(litellm.AuthenticationError, match="invalid API key"):
        litellm.rerank(model=f"cohere/{MODEL}", query=QUERY, documents=DOCS, api_base=url, api_key="wrong")


def test_langchain_cohere_rerank_with_a_base_url(url: str, offline: list[object]) -> None:
    pytest.importorskip("langchain_cohere")
    from langchain_cohere import CohereRerank
    from langchain_core.documents import Document

    expected, _ = _jina(url, DOCS)
    reranker = CohereRerank(model=MODEL, cohere_api_key=KEY, base_url=url, top_n=2)
    ranked = reranker.compress_documents([Document(page_content=d) for d in DOCS], QUERY)
    assert [d.page_content for d in ranked] == [DOCS[i] for i in _top(expected, 2)]
    assert [d.metadata["relevance_score"] for d in ranked] == pytest.approx(
        [expected[i] for i in _top(expected, 2)], abs=1e-5
    )


def test_vllm_score_as_its_documentation_sends_it(url: str) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "accept": "application/json"}
    model = httpx.get(f"{url}/v1/models", headers=headers).json()["data"][0]["id"]
    assert model == MODEL
    expected, tokens = _jina(url, DOCS)
    texts = _post(url, "/score", {"model": model, "text_1": QUERY, "text_2": DOCS}).json()
    assert set(texts) == {"id", "object", "created", "model", "data", "usage"}
    assert [x["index"] for x in texts["data"]] == [0, 1, 2] and {x["object"] for x in texts["data"]} == {
        "score"
    }
    assert [x["score"] for x in texts["data"]] == pytest.approx([expected[i] for i in range(3)], abs=1e-5)
    assert texts["usage"]["prompt_tokens"] == texts["usage"]["total_tokens"] == tokens
    # pages as vLLM's m0 example sends them: one document per image part
    images = {"content": [{"type": "image_url", "image_url": {"url": u}} for u in (RED, BLUE)]}
    pages = _post(url, "/score", {"model": model, "text_1": QUERY, "text_2": images})
    assert pages.status_code == 200, pages.text
    page_scores, _ = _jina(url, [{"image": RED}, {"image": BLUE}])
    assert [x["score"] for x in pages.json()["data"]] == pytest.approx(
        [page_scores[0], page_scores[1]], abs=1e-5
    )
    # one query per document, on the older /v1/score path
    queries = ["plants", "revenue", "language"]
    pairwise = _post(url, "/v1/score", {"model": model, "text_1": queries, "text_2": DOCS}).json()
    for i, q in enumerate(queries):
        one = _post(url, "/v1/rerank", {"query": q, "documents": [DOCS[i]]}).json()["results"][0][
            "relevance_score"
        ]
        assert pairwise["data"][i]["score"] == pytest.approx(one, abs=1e-5)


def test_vllm_rerank_with_content_documents(url: str) -> None:
    expected, _ = _jina(url, [{"image": RED}, DOCS[0], {"image": BLUE}])
    content = [{"type": "image_url", "image_url": {"url": RED}}, {"type": "text", "text": DOCS[0]},
               {"type": "image_url", "image_url": {"url": BLUE}}]  # fmt: skip
    for path, documents in (
        ("/v1/rerank", {"content": content}),
        ("/rerank", [{"content": [p]} for p in content]),
    ):
        r = _post(url, path, {"model": MODEL, "query": QUERY, "documents": documents})
        assert r.status_code == 200, r.text
        assert {x["index"]: x["relevance_score"] for x in r.json()["results"]} == pytest.approx(
            expected, abs=1e-5
        )


def _timings(response: httpx.Response) -> tuple[float, float]:
    """The engine's queue and inference milliseconds of a scored answer, as TEI's headers carry them."""
    assert response.status_code == 200, response.text
    queue, inference = float(response.headers["x-queue-time"]), float(response.headers["x-inference-time"])
    assert math.isfinite(queue) and math.isfinite(inference)
    return queue, inference


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/rerank", {"query": QUERY, "documents": DOCS}),
        ("/rerank", {"query": QUERY, "documents": [{"content": [{"type": "text", "text": DOCS[0]}]}]}),
        ("/v2/rerank", {"model": MODEL, "query": QUERY, "documents": DOCS}),
        ("/score", {"text_1": QUERY, "text_2": DOCS}),
        ("/v1/score", {"text_1": [QUERY, QUERY], "text_2": DOCS[:2]}),
    ],
)
def test_every_dialect_answers_queue_and_inference_time(url: str, path: str, body: Any) -> None:
    queue, inference = _timings(_post(url, path, body))
    assert queue >= 0 and inference > 0  # the model ran for this call; it may not have waited


def test_long_documents_are_cut_never_refused_and_usage_counts_the_cut(url: str, model: Any) -> None:
    """Every dialect's cap cuts a text document to its first CAP tokens: the score is the cut
    text's, the usage counts the tokens scored, and all dialects agree."""
    docs = [LONG, DOCS[0]]
    full, full_tokens = _jina(url, docs)
    cut, cut_tokens = _jina(url, docs, max_tokens_per_doc=CAP)
    ids = model.tokenizer(LONG, add_special_tokens=False)["input_ids"]
    by_hand, by_hand_tokens = _jina(url, [model.tokenizer.decode(ids[:CAP]), DOCS[0]])
    assert cut == pytest.approx(by_hand, abs=1e-5) and cut[0] != pytest.approx(full[0], abs=1e-5)
    assert cut[1] == pytest.approx(full[1], abs=1e-5)  # a short document is not changed by the cap
    direct = model.score_pairs([(QUERY, d) for d in docs], max_doc_tokens=CAP)
    assert cut_tokens == by_hand_tokens == direct.total_tokens < full_tokens - len(ids) // 2
    cohere = _post(
        url, "/v2/rerank", {"model": MODEL, "query": QUERY, "documents": docs, "max_tokens_per_doc": CAP}
    ).json()
    vllm = _post(url, "/score", {"text_1": QUERY, "text_2": docs, "truncate_prompt_tokens": CAP}).json()
    jina_vllm, _ = _jina(url, docs, truncate_prompt_tokens=CAP)
    assert {x["index"]: x["relevance_score"] for x in cohere["results"]} == pytest.approx(cut, abs=1e-5)
    assert [x["score"] for x in vllm["data"]] == pytest.approx([cut[0], cut[1]], abs=1e-5)
    assert jina_vllm == pytest.approx(cut, abs=1e-5)
    assert cohere["meta"]["tokens"]["input_tokens"] == vllm["usage"]["total_tokens"] == cut_tokens


def test_remote_backend_passes_the_cap_on(url: str, model: Any) -> None:
    from reranker.backends.remote import RemoteBackend

    pairs = [(QUERY, LONG), (QUERY, DOCS[0])]
    backend = RemoteBackend(url, api_key=KEY)
    try:
        remote = backend.score_pairs(pairs, max_doc_tokens=CAP)
    finally:
        backend.close()
    local = model.score_pairs(pairs, max_doc_tokens=CAP)
    assert (
        remote.scores == pytest.approx(local.scores, abs=1e-5) and remote.total_tokens == local.total_tokens
    )


def test_folio_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "search_api.main", "--version"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip() == f"folio {importlib.metadata.version('folio-search')}"


@pytest.mark.slow
def test_dialects_on_folio_serve(
    api_server: StartServer, tmp_path: Path, tiny_m0_dir: Path, offline: list[object]
) -> None:
    """`folio serve` mounts the same router: Cohere's client, vLLM's score and the model list work
    there with an API key, and give the scores of its own Jina route."""
    cohere = pytest.importorskip("cohere")
    server = api_server(f"sqlite:///{tmp_path}/d.db", reranker=f"local:{tiny_m0_dir}")
    key = server.create_key(["g"])
    with server.client(key) as client:
        jina = client.post("/v1/rerank", json={"query": QUERY, "documents": DOCS}).json()["results"]
        score = client.post("/score", json={"text_1": QUERY, "text_2": {"content": [
            {"type": "image_url", "image_url": {"url": RED}}]}})  # fmt: skip
        page = client.post("/v1/rerank", json={"query": QUERY, "documents": [{"image": RED}]}).json()[
            "results"
        ]
        models = client.get("/v1/models").json()
        refused = client.post("/score", json={"text_1": QUERY, "text_2": {"content": [
            {"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}})  # fmt: skip
    with server.client() as anonymous:
        assert anonymous.post("/v2/rerank", json={"query": QUERY, "documents": DOCS}).status_code == 401
    expected = {x["index"]: x["relevance_score"] for x in jina}
    v2 = cohere.ClientV2(api_key=key, base_url=server.base_url).rerank(
        model=MODEL, query=QUERY, documents=DOCS
    )
    assert {x.index: x.relevance_score for x in v2.results} == pytest.approx(expected, abs=1e-5)
    assert _timings(score)[1] > 0  # the same timing headers on this server
    assert score.json()["data"][0]["score"] == pytest.approx(
        page[0]["relevance_score"], abs=1e-5
    )
    assert models["data"][0]["id"] == Path(tiny_m0_dir).name
    assert refused.status_code == 422 and "disabled" in refused.json()["message"]
