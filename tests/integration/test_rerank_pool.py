"""A pool of two `folio rerank-server` processes (tiny m0 checkpoint) behind `remote:URL1,URL2`:
scores equal one server's and the local model's, each server scores only its rendezvous share and
reports its cache hits to the pool's metrics, an overloaded server's share spreads to the other
before any call fails, and a server killed mid-run costs no call anything but time."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image
from prometheus_client import CollectorRegistry, generate_latest

from reranker.backends import make_backend
from reranker.backends.pool import RemotePool
from reranker.backends.remote import RemoteBackend
from reranker.dialects.jina import CACHE_HITS_HEADER
from reranker.errors import BackendFailed
from reranker.rendezvous import candidate_key, split
from reranker.serving.engine import EngineLimits, RerankEngine
from reranker.serving.metrics import EngineCollector
from reranker.types import Candidate, ImageInput
from tests.fixtures.api_server import ServerStartError, free_port, wait_until_healthy
from tests.integration.rerank_http import serve_app

REPO = Path(__file__).resolve().parents[2]
QUERY = "a red page about plants"


def _png(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (56, 56), color).save(buf, format="PNG")
    return buf.getvalue()


CANDIDATES: list[Candidate] = [
    *(f"page {i}: notes on photosynthesis, revenue tables and small models" for i in range(12)),
    ImageInput(_png("red")),
    ImageInput(_png("blue")),
    ImageInput(_png("green")),
]
PAIRS = [(QUERY, c) for c in CANDIDATES]


class Server:
    def __init__(self, model_dir: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "search_api.main", "rerank-server", "--model", str(model_dir),
             "--port", str(self.port), "--device", "cpu", "--dtype", "float32", "--batch-window-ms", "0",
             *extra],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def wait(self) -> None:
        def output() -> str:
            return self.proc.stdout.read() if self.proc.stdout else ""

        try:
            wait_until_healthy(self.url, self.proc, 120, output, "rerank-server")
        except ServerStartError as exc:
            pytest.fail(str(exc))

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        assert match, text
        return float(match.group(1))

    def pairs_scored(self) -> float:
        return self.metric("folio_rerank_pairs_total")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def servers(tiny_m0_dir: Path) -> Iterator[list[Server]]:
    # Both load at once. The second takes one request and queues one (calls one at a time never
    # notice); the overload test makes it refuse the rest, the last test kills it.
    started = [Server(tiny_m0_dir), Server(tiny_m0_dir, "--max-queue", "1")]
    try:
        for s in started:
            s.wait()
        yield started
    finally:
        for s in started:
            s.stop()


@pytest.fixture(scope="module")
def expected(tiny_m0_dir: Path) -> list[float]:
    from reranker.m0.reranker import M0Reranker

    model = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", dtype="float32")
    try:
        scores = model.score_pairs(PAIRS).scores
    finally:
        model.close()
    floats = [s for s in scores if isinstance(s, float)]
    assert len(floats) == len(PAIRS), scores
    return floats


@pytest.mark.slow  # two fresh processes import torch and load the model
def test_pool_scores_equal_one_server_and_each_server_sees_its_share(
    servers: list[Server], expected: list[float]
) -> None:
    urls = [s.url for s in servers]
    pool = make_backend(f"remote:{urls[0]},{urls[1]}", timeout=60)
    assert isinstance(pool, RemotePool)
    shares = split([candidate_key(c) for c in CANDIDATES], urls)
    assert len(shares) == 2  # both servers get some of the candidates
    before = [s.pairs_scored() for s in servers]
    try:
        out = pool.score_pairs(PAIRS)
        after = [s.pairs_scored() for s in servers]
        exposition = _exposition(RerankEngine(pool))
    finally:
        pool.close()
    assert out.scores == pytest.approx(expected, abs=1e-5)
    assert [a - b for a, b in zip(after, before, strict=True)] == [len(shares[0]), len(shares[1])]
    stats = pool.server_stats()
    assert [(s.url, s.requests, s.errors, s.pairs) for s in stats] == [
        (urls[0], 1, 0, len(shares[0])),
        (urls[1], 1, 0, len(shares[1])),
    ]
    assert f'folio_rerank_pool_pairs_total{{server="{urls[1]}"}} {float(len(shares[1]))}' in exposition
    assert f'folio_rerank_pool_up{{server="{urls[0]}"}} 1.0' in exposition

    single = RemoteBackend(urls[0], retries=0)
    try:
        one = single.score_pairs(PAIRS)
    finally:
        single.close()
    assert out.scores == pytest.approx(one.scores, abs=1e-5)
    assert out.total_tokens == one.total_tokens > 0


def _exposition(engine: RerankEngine) -> str:
    registry = CollectorRegistry()
    registry.register(EngineCollector(lambda: engine))
    return generate_latest(registry).decode()


@pytest.mark.slow
def test_each_server_reports_its_cache_hits_to_the_pool_metrics(servers: list[Server]) -> None:
    urls = [s.url for s in servers]
    docs = [f"cache test page {i}: budgets, maps and a glossary of terms" for i in range(10)]
    shares = split([candidate_key(d) for d in docs], urls)
    assert len(shares) == 2
    pool = RemotePool(urls, timeout=60)
    engine = RerankEngine(pool)
    before = [s.metric("folio_rerank_cache_hits_total") for s in servers]
    try:
        cold = engine.rerank("a first query", docs)
        warm = engine.rerank("a second, different query", docs)  # the pages' prefixes are cached now
        exposition = _exposition(engine)
    finally:
        engine.close()
    after = [s.metric("folio_rerank_cache_hits_total") for s in servers]
    assert (cold.cache_hits, warm.cache_hits) == (0, len(docs))
    assert [a - b for a, b in zip(after, before, strict=True)] == [len(shares[0]), len(shares[1])]
    assert [s.cache_hits for s in pool.server_stats()] == [len(shares[0]), len(shares[1])]
    assert f'folio_rerank_pool_cache_hits_total{{server="{urls[0]}"}} {float(len(shares[0]))}' in exposition
    assert f"folio_rerank_cache_hits_total {float(len(docs))}" in exposition
    assert "folio_rerank_pool_cache_hit_ratio 0.5" in exposition  # 10 of the 20 pairs
    for server, share in zip(servers, (shares[0], shares[1]), strict=True):
        assert server.metric('folio_rerank_cache_entries{cache="prefix"}') >= len(share)


@pytest.mark.slow
def test_an_overloaded_server_sheds_its_share_to_the_other_before_any_call_fails(
    servers: list[Server], expected: list[float]
) -> None:
    """The engine in front of the pool is the API's: a call that raised would be a search answered in
    first-stage order. The busy server takes one request and queues one; the rest get 503."""
    calm, busy = servers
    pool = RemotePool([calm.url, busy.url], timeout=60, cooloff_s=30)
    engine = RerankEngine(pool, EngineLimits(max_in_flight=8))
    rejected = busy.metric("folio_rerank_rejected_total")
    try:
        for _ in range(5):  # until the busy server has refused something (the first round, as a rule)
            with ThreadPoolExecutor(8) as threads:
                rounds = list(threads.map(lambda _: engine.rerank(QUERY, CANDIDATES).scores, range(8)))
            for scores in rounds:
                assert scores == pytest.approx(expected, abs=1e-5)
            if busy.metric("folio_rerank_rejected_total") > rejected:
                break
        assert busy.metric("folio_rerank_rejected_total") > rejected
        stats = {s.url: s for s in pool.server_stats()}
        assert stats[busy.url].overloaded >= 1 and stats[busy.url].errors == stats[busy.url].overloaded
        assert stats[calm.url].errors == 0
        # Left out for the Retry-After it asked (1 s), not for the pool's 30 s cool-off.
        requests = stats[busy.url].requests
        threading.Event().wait(1.5)
        assert engine.rerank(QUERY, CANDIDATES).scores == pytest.approx(expected, abs=1e-5)
        assert {s.url: s for s in pool.server_stats()}[busy.url].requests == requests + 1
    finally:
        engine.close()


@pytest.mark.slow
def test_a_killed_server_fails_over_within_the_call(servers: list[Server], expected: list[float]) -> None:
    survivor, victim = servers
    pool = RemotePool([survivor.url, victim.url], timeout=60, cooloff_s=30)
    results: list[list[float | Exception]] = []
    errors: list[BaseException] = []
    three_done = threading.Event()

    def loop() -> None:
        try:
            for _ in range(20):
                results.append(list(pool.score_pairs(PAIRS).scores))
                if len(results) == 3:
                    three_done.set()
        except BaseException as exc:  # surfaced by the assertions below
            errors.append(exc)
            three_done.set()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        assert three_done.wait(60)
        victim.proc.kill()  # SIGKILL: no graceful shutdown, connections just drop
        victim.proc.wait(10)
        thread.join(120)
        assert not thread.is_alive() and not errors, errors
        assert len(results) == 20
        for scores in results:
            assert scores == pytest.approx(expected, abs=1e-5)
        stats = {s.url: s for s in pool.server_stats()}
        assert stats[victim.url].errors >= 1 and not stats[victim.url].up
        # the dead server's share now goes to the survivor, at no cost of a failed request
        before, victim_requests = survivor.pairs_scored(), stats[victim.url].requests
        assert pool.score_pairs(PAIRS).scores == pytest.approx(expected, abs=1e-5)
        assert survivor.pairs_scored() - before == len(PAIRS)
        assert pool.server_stats()[1].requests == victim_requests
    finally:
        thread.join(120)
        pool.close()


def _switchable_server(healthy: dict[str, bool]) -> FastAPI:
    """Scores each document by its length; answers 503 to everything while `healthy["up"]` is off."""
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"ok": healthy["up"]}, status_code=200 if healthy["up"] else 503)

    @app.post("/v1/rerank")
    async def rerank(request: Request) -> JSONResponse:
        if not healthy["up"]:
            return JSONResponse({"detail": "overloaded"}, status_code=503)
        docs = (await request.json())["documents"]
        results = [{"index": i, "relevance_score": float(len(d))} for i, d in enumerate(docs)]
        return JSONResponse({"model": "len", "usage": {"total_tokens": len(docs)}, "results": results})

    return app


def test_a_failed_server_rejoins_after_its_cool_off_when_healthy() -> None:
    a_state, b_state = {"up": True}, {"up": False}
    docs = [f"document number {i} " + "x" * i for i in range(16)]
    with serve_app(_switchable_server(a_state)) as a, serve_app(_switchable_server(b_state)) as b:
        pool = RemotePool([a, b], cooloff_s=0.3)
        try:
            share_b = len(split([candidate_key(d) for d in docs], [a, b]).get(1, []))
            assert share_b > 0
            out = pool.score_pairs([("q", d) for d in docs])  # b answers 503: its share fails over to a
            assert out.scores == [float(len(d)) for d in docs] and out.total_tokens == len(docs)
            assert [(s.requests, s.errors, s.up) for s in pool.server_stats()] == [
                (2, 0, True),
                (1, 1, False),
            ]
            pool.score_pairs([("q", d) for d in docs])  # b in its cool-off: not asked
            assert pool.server_stats()[1].requests == 1
            b_state["up"] = True
            threading.Event().wait(0.4)
            pool.score_pairs([("q", d) for d in docs])  # cool-off over, /healthz 200: b is back
            stats = pool.server_stats()
            assert (stats[1].requests, stats[1].pairs, stats[1].up) == (2, 2 * share_b, True)
            a_state["up"] = b_state["up"] = False
            with pytest.raises(BackendFailed, match="every rerank server failed"):
                pool.score_pairs([("q", d) for d in docs])
        finally:
            pool.close()


def _busy_server(state: dict[str, bool]) -> FastAPI:
    """Scores each document by its length and counts those starting with "seen" as cached; while
    `state["busy"]`, answers 503 with a Retry-After of 0.2 s, as a full rerank queue does."""
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"ok": True})

    @app.post("/v1/rerank")
    async def rerank(request: Request) -> JSONResponse:
        if state["busy"]:
            return JSONResponse({"detail": "queue full"}, status_code=503, headers={"Retry-After": "0.2"})
        docs = (await request.json())["documents"]
        results = [{"index": i, "relevance_score": float(len(d))} for i, d in enumerate(docs)]
        hits = str(sum(d.startswith("seen") for d in docs))
        body = {"model": "len", "usage": {"total_tokens": len(docs)}, "results": results}
        return JSONResponse(body, headers={CACHE_HITS_HEADER: hits})

    return app


def test_a_busy_server_is_left_out_for_its_retry_after_and_cache_hits_add_up() -> None:
    a_state, b_state = {"busy": False}, {"busy": True}
    docs = [f"seen page {i}" for i in range(8)] + [f"new page number {i}" for i in range(8)]
    pairs = [("q", d) for d in docs]
    with serve_app(_busy_server(a_state)) as a, serve_app(_busy_server(b_state)) as b:
        pool = RemotePool([a, b], cooloff_s=30)
        try:
            assert len(split([candidate_key(d) for d in docs], [a, b])) == 2
            out = pool.score_pairs(pairs)  # b is busy: its share goes to a in the same call
            assert out.scores == [float(len(d)) for d in docs] and out.cache_hits == 8
            stats = pool.server_stats()
            assert [(s.errors, s.overloaded, s.up) for s in stats] == [(0, 0, True), (1, 1, False)]
            assert stats[0].cache_hits == 8
            b_state["busy"] = False
            threading.Event().wait(0.3)  # past b's Retry-After, far from the 30 s cool-off
            assert pool.score_pairs(pairs).cache_hits == 8
            stats = pool.server_stats()
            assert (stats[1].requests, stats[1].up) == (2, True)
            assert stats[0].cache_hits + stats[1].cache_hits == 16
        finally:
            pool.close()
