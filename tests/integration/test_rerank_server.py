"""The rerank server over real HTTP (uvicorn on a loopback port) with the tiny m0 checkpoint:
the Jina contract, errors, dynamic batching of concurrent requests, overload, and the HTTP
client backends (Folio's RemoteBackend, retries against a flaky server)."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from reranker.backends import make_backend
from reranker.backends.remote import RemoteBackend
from reranker.errors import RerankError
from reranker.serving.server import RerankServerSettings, create_rerank_app
from reranker.types import ImageInput, TextInput
from tests.integration.rerank_http import flaky_server, serve_app
from tests.unit.reranker.serving.fake_scorer import FakeScorer

DOCS = ["a note on photosynthesis in plants", "quarterly revenue table", "small language models"]


def _png(color: str, size: tuple[int, int] = (56, 56)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


RED, BLUE = _png("red"), _png("blue", (84, 56))
RED_B64 = base64.b64encode(RED).decode()
BLUE_URL = "data:image/png;base64," + base64.b64encode(BLUE).decode()


@pytest.fixture(scope="module")
def model(tiny_m0_dir: Path) -> Iterator[Any]:
    from reranker.m0.reranker import M0Reranker

    m = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", dtype="float32")
    yield m
    m.close()


@pytest.fixture(scope="module")
def server(model: Any) -> Iterator[tuple[str, Any]]:
    app = create_rerank_app(RerankServerSettings(max_queue=32, max_batch_requests=32, batch_window_ms=0), scorer=model)
    with serve_app(app) as url:
        yield url, app


def _post(url: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/rerank", json=body, timeout=60, **kw)


def _direct(model: Any, query: Any, docs: list[Any]) -> list[float]:
    scores = model.score_pairs([(query, d) for d in docs]).scores
    assert all(isinstance(s, float) for s in scores)
    return scores


def test_string_documents_follow_the_contract(server, model) -> None:
    url, _ = server
    r = _post(url, {"model": "jina-reranker-m0", "query": "plants", "documents": DOCS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"model", "usage", "results"}
    assert body["model"] == "jina-reranker-m0"
    assert body["usage"]["total_tokens"] > 0
    results = body["results"]
    assert sorted(x["index"] for x in results) == [0, 1, 2]
    scores = [x["relevance_score"] for x in results]
    assert scores == sorted(scores, reverse=True)
    # documents come back (Jina's default) as {"text": ...} objects
    assert [x["document"] for x in results] == [{"text": DOCS[x["index"]]} for x in results]
    expected = _direct(model, "plants", DOCS)
    assert {x["index"]: x["relevance_score"] for x in results} == pytest.approx(dict(enumerate(expected)), abs=1e-5)


def test_mixed_text_and_image_documents(server, model) -> None:
    url, _ = server
    docs = [{"text": DOCS[0]}, {"image": RED_B64}, DOCS[2], {"image": BLUE_URL}]
    r = _post(url, {"query": "a red page", "documents": docs, "return_documents": False})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert all("document" not in x for x in results)
    expected = _direct(model, "a red page", [TextInput(DOCS[0]), ImageInput(RED), DOCS[2], ImageInput(BLUE)])
    got = {x["index"]: x["relevance_score"] for x in results}
    assert got == pytest.approx(dict(enumerate(expected)), abs=1e-5)


def test_image_query_and_top_n(server, model) -> None:
    url, _ = server
    docs = [DOCS[0], {"image": BLUE_URL}, DOCS[1]]
    r = _post(url, {"query": {"image": RED_B64}, "documents": docs, "top_n": 2})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    expected = _direct(model, ImageInput(RED), [DOCS[0], ImageInput(BLUE), DOCS[1]])
    best_two = sorted(range(3), key=lambda i: -expected[i])[:2]
    assert [x["index"] for x in results] == best_two
    assert results[0]["document"] == ({"image": BLUE_URL} if best_two[0] == 1 else {"text": docs[best_two[0]]})


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"query": "q", "documents": []}, "documents"),
        ({"query": "q", "documents": "abc"}, "documents"),
        ({"query": "q", "documents": [1, 2]}, "documents[0]: must be a string"),
        ({"query": "q", "documents": [{"video": "x"}]}, "documents"),
        ({"documents": ["a"]}, "query"),
        ({"query": "   ", "documents": ["a"]}, "query"),
        ({"query": "q", "documents": ["a"], "top_n": -1}, "top_n"),
        ({"query": "q", "documents": ["a", {"image": "bm90IGFuIGltYWdl"}]}, "documents[1]"),
        # URL fetching is off unless the server allows it
        ({"query": "q", "documents": [{"image": "http://127.0.0.1:9/x.png"}]}, "documents[0]"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(server, body, needle) -> None:
    url, _ = server
    r = _post(url, body)
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.json()["detail"]


def test_image_strings_never_read_the_servers_files(server, model, tmp_path: Path) -> None:
    """A request's image is base64, a data URL or a URL: a string naming a file on the server is
    refused like any other non-base64 text, whether the file exists (and is an image) or not."""
    url, _ = server
    (tmp_path / "private.png").write_bytes(RED)
    for path in (str(tmp_path / "private.png"), "/etc/hostname", str(tmp_path / "missing.png")):
        r = _post(url, {"query": "q", "documents": [{"image": path}]})
        assert r.status_code == 422, (path, r.text)
        assert r.json()["detail"] == (
            "documents[0]: image string is neither an http(s) URL, a data URL nor valid base64"
        )
    # the Python API still takes a path: the check is on what arrives over the wire
    assert isinstance(model.score_pairs([("q", ImageInput(str(tmp_path / "private.png")))]).scores[0], float)


def test_malformed_json_is_a_4xx(server) -> None:
    url, _ = server
    r = httpx.post(f"{url}/v1/rerank", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]


def test_concurrent_requests_share_a_batch_and_keep_their_scores(server, model) -> None:
    url, _ = server
    bodies = [{"query": f"query {i}", "documents": DOCS + [{"image": RED_B64}]} for i in range(6)]
    sequential = [_post(url, b).json()["results"] for b in bodies]
    # A long window that closes as soon as all six requests are queued: one scorer call.
    settings = RerankServerSettings(batch_window_ms=60_000, max_batch_requests=6)
    app = create_rerank_app(settings, scorer=model)
    with serve_app(app) as batched_url:
        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(lambda b: _post(batched_url, b), bodies))
        metrics = httpx.get(f"{batched_url}/metrics").text
    assert all(r.status_code == 200 for r in responses)
    assert "folio_rerank_max_batch_requests 6.0" in metrics and "folio_rerank_batches_total 1.0" in metrics
    for seq, resp in zip(sequential, responses, strict=True):
        conc = resp.json()["results"]
        assert [x["index"] for x in conc] == [x["index"] for x in seq]
        assert [x["relevance_score"] for x in conc] == pytest.approx([x["relevance_score"] for x in seq], abs=1e-5)


def test_overload_answers_503_and_the_queue_drains() -> None:
    scorer = FakeScorer(hold=True)  # the first request holds the worker; two more wait
    app = create_rerank_app(RerankServerSettings(max_queue=2, batch_window_ms=0), scorer=scorer)
    with serve_app(app) as url, ThreadPoolExecutor(3) as pool:
        try:
            running = pool.submit(_post, url, {"query": "first", "documents": DOCS})
            assert scorer.entered.wait(30)
            waiting = [pool.submit(_post, url, {"query": f"q{i}", "documents": DOCS}) for i in range(2)]
            _wait_until(lambda: app.state.engine.queue_depth == 2)
            r = _post(url, {"query": "one too many", "documents": DOCS})
            assert r.status_code == 503
            assert "queue is full" in r.json()["detail"] and r.headers["retry-after"]
        finally:
            scorer.gate.set()
        assert [f.result().status_code for f in [running, *waiting]] == [200, 200, 200]
        assert "folio_rerank_rejected_total 1.0" in httpx.get(f"{url}/metrics").text


def test_oversized_body_is_refused(model) -> None:
    app = create_rerank_app(RerankServerSettings(max_body_mb=0.01), scorer=model)
    with serve_app(app) as url:
        r = _post(url, {"query": "q", "documents": ["x" * 20_000]})
    assert r.status_code == 413 and "MiB" in r.json()["detail"]


def test_api_key_is_required_when_set(model) -> None:
    app = create_rerank_app(RerankServerSettings(api_key="s3cret"), scorer=model)
    with serve_app(app) as url:
        body = {"query": "q", "documents": DOCS}
        assert _post(url, body).status_code == 401
        assert _post(url, body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert _post(url, body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(f"{url}/v1/models").status_code == 401

    # the key is checked before the body is read or even measured: over the cap without it is 401
    app = create_rerank_app(RerankServerSettings(api_key="s3cret", max_body_mb=0.01), scorer=model)
    with serve_app(app) as url:
        over = {"query": "q", "documents": ["x" * 20_000]}
        assert _post(url, over).status_code == 401
        assert _post(url, over, headers={"Authorization": "Bearer s3cret"}).status_code == 413
        assert httpx.get(f"{url}/healthz").json()["status"] == "ok"  # health stays open
        backend = RemoteBackend(url, api_key="s3cret")
        try:
            assert len(backend.score_pairs([("q", d) for d in DOCS]).scores) == 3
        finally:
            backend.close()
        with pytest.raises(RerankError, match="401"):
            RemoteBackend(url, api_key="wrong").score_pairs([("q", d) for d in DOCS])


def test_remote_backend_gets_the_same_scores_as_the_model(server, model, tmp_path) -> None:
    url, _ = server
    page = tmp_path / "page.png"
    page.write_bytes(BLUE)
    docs = [DOCS[0], ImageInput(page), TextInput(DOCS[1]), ImageInput(RED)]
    backend = make_backend(f"remote:{url}")
    assert isinstance(backend, RemoteBackend) and backend.ping()
    try:
        remote = backend.score_pairs([("blue page", d) for d in docs]).output(top_n=3, documents=docs)
    finally:
        backend.close()
    local = model.rerank("blue page", docs, top_n=3)
    assert [r.index for r in remote.results] == [r.index for r in local.results]
    assert [r.relevance_score for r in remote.results] == pytest.approx(
        [r.relevance_score for r in local.results], abs=1e-5
    )
    assert remote.results[0].document is docs[remote.results[0].index]  # the caller's own object


def test_remote_backend_retries_5xx_then_succeeds() -> None:
    with flaky_server(failures=2, status=503) as (url, calls):
        backend = RemoteBackend(url, retries=3, backoff=0.01)
        out = backend.score_pairs([("q", "a"), ("q", "b")]).output()
        backend.close()
    assert calls["n"] == 3  # two 503s, then the answer
    assert [r.index for r in out.results] == [1, 0]


def test_remote_backend_gives_up_with_a_rerank_error() -> None:
    with flaky_server(failures=10, status=502) as (url, calls):
        with pytest.raises(RerankError, match="failed after 2 attempts.*502"):
            RemoteBackend(url, retries=1, backoff=0.01).score_pairs([("q", "a")])
    assert calls["n"] == 2
    with flaky_server(failures=10, status=400) as (url, calls):
        with pytest.raises(RerankError, match="rejected"):
            RemoteBackend(url, retries=3, backoff=0.01).score_pairs([("q", "a")])
    assert calls["n"] == 1  # a client error is not retried
    # nothing listening: connection errors are retried, then reported
    with pytest.raises(RerankError, match="ConnectError"):
        RemoteBackend("http://127.0.0.1:9", retries=1, backoff=0.01, timeout=2).score_pairs([("q", "a")])


def test_haystack_jina_ranker_works_against_the_server(model, monkeypatch) -> None:
    """A third-party Jina client (Haystack's JinaRanker, base URL pointed here) reads our answers."""
    monkeypatch.setenv("HAYSTACK_TELEMETRY_ENABLED", "False")
    haystack = pytest.importorskip("haystack")
    from haystack.utils import Secret
    from haystack_integrations.components.rankers.jina import JinaRanker

    app = create_rerank_app(RerankServerSettings(api_key="hay"), scorer=model)
    with serve_app(app) as url:
        ranker = JinaRanker(model="jina-reranker-m0", api_key=Secret.from_token("hay"), base_url=f"{url}/v1/rerank")
        out = ranker.run(query="plants", documents=[haystack.Document(content=d) for d in DOCS], top_k=2)
    expected = _direct(model, "plants", DOCS)
    best_two = sorted(range(3), key=lambda i: -expected[i])[:2]
    assert [d.content for d in out["documents"]] == [DOCS[i] for i in best_two]
    assert [d.score for d in out["documents"]] == pytest.approx([expected[i] for i in best_two], abs=1e-5)
    assert out["meta"]["usage"]["total_tokens"] > 0


def test_jina_backend_sends_key_and_model(monkeypatch) -> None:
    from reranker.backends.jina import JinaBackend

    monkeypatch.delenv("JINA_API_KEY", raising=False)
    with pytest.raises(RerankError, match="JINA_API_KEY"):
        make_backend("jina")
    monkeypatch.setenv("JINA_API_KEY", "jina_test")
    assert make_backend("jina:jina-reranker-v2-base-multilingual").model == "jina-reranker-v2-base-multilingual"
    with flaky_server(failures=1, status=429) as (url, calls):
        backend = JinaBackend(base_url=url, backoff=0.01)
        docs = ["a", TextInput("b")]
        out = backend.score_pairs([(ImageInput(RED), d) for d in docs]).output(documents=docs)
        assert backend.ping()
    assert calls["last_auth"] == "Bearer jina_test"
    assert calls["last_body"]["model"] == "jina-reranker-m0"
    assert out.results[0].document == TextInput("b") and out.model == "flaky"


def test_local_factory_scorer_under_the_engine_matches_the_model(tiny_m0_dir: Path, model) -> None:
    from reranker.serving.engine import EngineLimits, RerankEngine

    scorer = make_backend(f"local:{tiny_m0_dir}", device="cpu", dtype="float32")
    assert scorer is not None and scorer.shares_batches and scorer.ping()
    engine = RerankEngine(scorer, EngineLimits(window_ms=5))
    docs = [DOCS[0], ImageInput(RED), DOCS[1]]
    try:
        with ThreadPoolExecutor(3) as pool:  # concurrent callers share the engine's batches
            outs = list(pool.map(lambda q: engine.rerank(q, docs).output(), ["red", "plants", "tax"]))
    finally:
        engine.close()
    for q, out in zip(["red", "plants", "tax"], outs, strict=True):
        direct = model.rerank(q, docs)
        assert [r.index for r in out.results] == [r.index for r in direct.results]
        assert [r.relevance_score for r in out.results] == pytest.approx(
            [r.relevance_score for r in direct.results], abs=1e-5
        )


def test_factory_specs() -> None:
    assert make_backend("none") is None
    with pytest.raises(ValueError, match="unknown reranker"):
        make_backend("cohere:x")
    with pytest.raises(ValueError, match="needs a URL"):
        make_backend("remote:")


def _wait_until(cond: Any, tries: int = 1000) -> None:
    for _ in range(tries):
        if cond():
            return
        threading.Event().wait(0.01)
    raise AssertionError("condition never became true")
