"""The rerank server (`folio rerank-server`): the rerank router (Jina's `POST /v1/rerank`, Cohere's
`POST /v2/rerank`, vLLM's `POST /score`, `GET /v1/models`), `GET /healthz`, `GET /metrics`.

`create_rerank_app(settings)` builds the app (nothing happens at import time); the model is loaded
in the app's lifespan unless a scorer is passed in. Every request goes through one `RerankEngine`,
so concurrent requests share model batches. Every failure is a 4xx or 503/504 with a message; a
client never sees a bare 500. With `store_url`, documents `folio-page:<page_id>` are that page of
the store (reranker.serving.page_refs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field, field_validator

from reranker.serving.api_key_gate import ApiKeyGate
from reranker.serving.body_limit import BodyLimitMiddleware
from reranker.serving.engine import EngineLimits, RerankEngine
from reranker.serving.http_errors import format_validation
from reranker.serving.metrics import EngineCollector
from reranker.serving.page_refs import PageRefResolver, check_store_url, open_page_refs
from reranker.serving.router import build_rerank_router
from reranker.types import Scorer

log = logging.getLogger("folio.rerank.server")


class RerankServerSettings(BaseModel):
    model_path: str | None = Field(
        default=None, description="local m0 folder or model id (loaded at startup)"
    )
    model_name: str | None = Field(
        default=None, description="name reported in responses (default: the model's)"
    )
    device: str = "auto"
    dtype: str = "auto"
    api_key: str | None = Field(default=None, description="require `Authorization: Bearer <key>` when set")
    max_queue: int = Field(default=64, ge=1, description="requests waiting before new ones get 503")
    max_batch_requests: int = Field(
        default=8, ge=1, description="concurrent requests scored together (the engine gathers them)"
    )
    max_batch_tokens: int | None = Field(
        default=None,
        ge=64,
        description="padded tokens (text + visual) per model batch, when the server loads the model "
        "(default: 32768 on a GPU, 8192 on a CPU)",
    )
    batch_window_ms: float = Field(default=5.0, ge=0, description="how long to gather a batch")
    request_timeout_s: float = Field(default=120.0, gt=0, description="deadline of one request (504 after)")
    max_body_mb: float = Field(default=64.0, gt=0, description="largest request body accepted")
    allow_urls: bool = False
    store_url: str | None = Field(
        default=None, description="resolve documents `folio-page:<page_id>` to that page of this store"
    )
    candidate_modality: Literal["image", "text", "auto"] = Field(
        default="image", description="what a referenced PDF page is scored as (as the search API's setting)"
    )

    @field_validator("store_url")
    @classmethod
    def _store_url(cls, url: str | None) -> str | None:
        return check_store_url(url) if url else None

    def engine_limits(self) -> EngineLimits:
        return EngineLimits(
            max_queue=self.max_queue,
            max_batch_requests=self.max_batch_requests,
            window_ms=self.batch_window_ms,
            deadline_s=self.request_timeout_s,
        )


def _load_scorer(settings: RerankServerSettings) -> Scorer:
    from reranker.backends.local import load_local

    assert settings.model_path
    return load_local(
        settings.model_path,
        device=settings.device,
        dtype=settings.dtype,
        allow_urls=settings.allow_urls,
        max_batch_tokens=settings.max_batch_tokens,
    )


def create_rerank_app(settings: RerankServerSettings, scorer: Scorer | None = None) -> FastAPI:
    """The app. Pass `scorer` to serve an already-loaded model; else `settings.model_path` loads.
    The app closes the engine on shutdown, and the scorer with it when the app loaded it."""
    if scorer is None and not settings.model_path:
        raise ValueError("create_rerank_app needs a scorer or settings.model_path")

    def start(s: Scorer) -> None:
        app.state.engine = RerankEngine(s, settings.engine_limits(), settings.model_name)

    def engine_now() -> RerankEngine | None:
        engine: RerankEngine | None = app.state.engine
        return engine

    # Opened lazily: the store is first read when a reference comes.
    page_refs: PageRefResolver | None = None
    if settings.store_url:
        page_refs = open_page_refs(settings.store_url, settings.candidate_modality)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if engine_now() is None:
            start(scorer if scorer is not None else await asyncio.to_thread(_load_scorer, settings))
        try:
            yield
        finally:
            engine = engine_now()
            if engine is not None:
                engine.close(close_scorer=scorer is None)
                app.state.engine = None
            if page_refs is not None:
                page_refs.close()

    app = FastAPI(title="Folio rerank", version="1", lifespan=lifespan)
    app.state.engine = None
    if scorer is not None:
        start(scorer)  # usable before startup too (e.g. under a test client without lifespan)

    body_limit = int(settings.max_body_mb * (1 << 20))
    app.add_middleware(BodyLimitMiddleware, limit_for=lambda _path: body_limit)
    if settings.api_key:  # added last, so it runs first: no body is read for a caller without the key
        app.add_middleware(ApiKeyGate, api_key=settings.api_key)

    @app.exception_handler(RequestValidationError)
    async def invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": format_validation(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the rerank server")
        return JSONResponse({"detail": f"the reranker could not serve this request: {exc}"}, status_code=503)

    app.include_router(build_rerank_router(engine_now, lambda: None, resolve_documents=page_refs))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        engine = engine_now()
        if engine is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "model": engine.model_name,
                "queue_depth": engine.queue_depth,
                "max_queue": engine.limits.max_queue,
                "batches": engine.stats.batches,
            }
        )

    registry = CollectorRegistry()
    registry.register(EngineCollector(engine_now))

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
