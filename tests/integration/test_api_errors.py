"""Trouble over real HTTP: bad input is a 4xx with a message, a dead or hanging reranker degrades
to first-stage order with a reason, an unreachable store is a 503, and overload is shed with 503."""

from __future__ import annotations

import base64
import io
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from tests.fixtures.api_server import StartServer, free_port, index_files


@pytest.fixture
def hanging_reranker() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a reranker stuck mid-request."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"remote:http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


def test_bad_input_is_4xx_with_a_message(api_server: StartServer, tmp_path: Path, shared_pdfs: Path) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    index_files(url, [shared_pdfs / "multilang.pdf"])
    server = api_server(url, anonymous=True)
    giant = base64.b64encode(_png((9000, 9000), "1")).decode()
    cases = [
        ({"query": ""}, 400, "query"),
        ({"query": "   "}, 400, "query"),
        ({}, 400, "query"),
        ({"query": "x", "top_k": 500}, 422, "top_k"),
        ({"query": "x", "top_n": 0}, 422, "top_n"),
        ({"query": "x", "offset": -1}, 422, "offset"),
        ({"query": "x", "mode": "fuzzy"}, 422, "mode"),
        ({"query": "x", "mode": "hybrid", "feedback": True}, 422, "feedback"),
        ({"query": 5}, 422, "query"),
        ({"query": "x", "unknown": 1}, 422, "unknown"),
        ({"image": "%%% not base64 %%%"}, 400, "base64"),
        ({"image": base64.b64encode(b"not an image at all").decode()}, 400, "readable image"),
        ({"image": giant}, 413, "pixels"),
    ]
    with server.client() as client:
        for body, status, word in cases:
            resp = client.post("/v1/search", json=body)
            assert resp.status_code == status, (body if len(str(body)) < 200 else "giant", resp.text)
            detail = resp.json()["detail"]
            assert isinstance(detail, str) and word in detail, (body, detail)
        raw = client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})
        assert raw.status_code == 422 and isinstance(raw.json()["detail"], str)
        text_as_image = client.post("/v1/search/image", files={"image": ("a.png", b"hello", "image/png")})
        assert text_as_image.status_code == 400
        assert client.post("/v1/search", json=["query"]).status_code == 422
        assert client.get("/v1/pages/nope:1/image").status_code == 404
        assert client.get("/v1/documents/nope/file").status_code == 404
        metrics = client.get("/metrics").text
    # None of that went through the catch-all error handler.
    assert "folio_unexpected_errors_total 0.0" in metrics
    assert 'route="/v1/search",status="422"' in metrics


def test_dead_reranker_falls_back_to_first_stage(
    api_server: StartServer, tmp_path: Path, shared_pdfs: Path
) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    index_files(url, [shared_pdfs / "pdflatex-4-pages.pdf"])
    server = api_server(url, reranker=f"remote:http://127.0.0.1:{free_port()}", anonymous=True)
    with server.client() as client:
        resp = client.post("/v1/search", json={"query": "text", "mode": "bm25"})
        rerank = client.post("/v1/rerank", json={"query": "a", "documents": ["b"]})
        ready = client.get("/readyz")
        metrics = client.get("/metrics").text
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["reranked"] is False and "reranker failed" in body["rerank_reason"]
    assert [h["first_stage_rank"] for h in body["hits"]] == list(range(1, len(body["hits"]) + 1))
    assert rerank.status_code == 503 and "reranker" in rerank.json()["detail"]
    assert ready.status_code == 503 and ready.json()["reranker"] is False and ready.json()["store"] is True
    # the reason label is the engine's typed error, and the engine's own counters are exported
    assert 'folio_rerank_fallbacks_total{reason="error"} 1.0' in metrics
    assert "folio_rerank_failed_batches_total 2.0" in metrics and "folio_rerank_requests_total 2.0" in metrics


def test_slow_reranker_budget_and_overload_shedding(
    api_server: StartServer, tmp_path: Path, shared_pdfs: Path, hanging_reranker: str
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    index_files(url, [shared_pdfs / "pdflatex-4-pages.pdf"])
    env = {"FOLIO_RERANK_BUDGET_MS": "3000", "FOLIO_MAX_CONCURRENT_SEARCHES": "2"}
    server = api_server(url, reranker=hanging_reranker, anonymous=True, env=env)

    def search(_: int) -> tuple[int, dict, str | None]:
        with server.client() as client:
            resp = client.post("/v1/search", json={"query": "text", "mode": "bm25"})
            return resp.status_code, resp.json(), resp.headers.get("retry-after")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(search, range(8)))
    ok = [body for status, body, _ in results if status == 200]
    shed = [(body, retry) for status, body, retry in results if status == 503]
    assert ok and shed and len(ok) + len(shed) == 8
    assert all(b["reranked"] is False and "budget" in b["rerank_reason"] and b["hits"] for b in ok)
    assert all("capacity" in b["detail"] and retry == "1" for b, retry in shed)
    with server.client() as client:
        metrics = client.get("/metrics").text
    assert 'folio_shed_requests_total{kind="search"}' in metrics
    assert f'folio_rerank_fallbacks_total{{reason="budget"}} {float(len(ok))}' in metrics


def test_unreachable_store_is_503(api_server: StartServer, tmp_path: Path) -> None:
    broken = tmp_path / "store.db"
    broken.write_bytes(b"this is not a SQLite database" * 100)
    server = api_server(f"sqlite:///{broken}", anonymous=True)
    with server.client() as client:
        resp = client.post("/v1/search", json={"query": "text", "mode": "bm25"})
        ready = client.get("/readyz")
    assert resp.status_code == 503 and "store" in resp.json()["detail"]
    assert ready.status_code == 503 and ready.json()["store"] is False
