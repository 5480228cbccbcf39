"""A pool of two `folio rerank-server` processes (tiny m0 checkpoint) behind `remote:URL1,URL2`:
scores equal one server's and the local model's, each server scores only its rendezvous share,
and a server killed mid-run costs no call anything but time."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
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
from reranker.errors import BackendFailed
from reranker.rendezvous import candidate_key, split
from reranker.serving.engine import RerankEngine
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
    def __init__(self, model_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "search_api.main", "rerank-server", "--model", str(model_dir),
             "--port", str(self.port), "--device", "cpu", "--dtype", "float32", "--batch-window-ms", "0"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def wait(self) -> None:
        def output() -> str:
            return self.proc.stdout.read() if self.proc.stdout else ""

        try:
            wait_until_healthy(self.url, self.proc, 120, output, "rerank-server")
        except ServerStartError as exc:
            pytest.fail(str(exc))

    def pairs_scored(self) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        match = re.search(r"^folio_rerank_pairs_total (\S+)$", text, re.MULTILINE)
        assert match, text
        return float(match.group(1))

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
    started = [Server(tiny_m0_dir), Server(tiny_m0_dir)]  # both load at once
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
        engine = RerankEngine(pool)
        registry = CollectorRegistry()
        registry.register(EngineCollector(lambda: engine))
        exposition = generate_latest(registry).decode()
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
