"""Real HTTP for the rerank tests: run an ASGI app under uvicorn on a free loopback port in a
thread, and a tiny flaky Jina-shaped server for the client retry tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    if not server.started:
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def flaky_server(failures: int, status: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Answers `status` to the first `failures` calls, then a valid rerank response that ranks the
    last document first."""
    calls: dict[str, Any] = {"n": 0}
    app = FastAPI()

    @app.post("/v1/rerank")
    async def rerank(request: Request) -> JSONResponse:
        calls["n"] += 1
        body = await request.json()
        calls["last_body"], calls["last_auth"] = body, request.headers.get("authorization")
        if calls["n"] <= failures:
            return JSONResponse({"detail": f"flaky failure {calls['n']}"}, status_code=status)
        n = len(body["documents"])
        results = [{"index": i, "relevance_score": (i + 1) / n} for i in reversed(range(n))]
        return JSONResponse({"model": "flaky", "usage": {"total_tokens": n}, "results": results})

    with serve_app(app) as url:
        yield url, calls
