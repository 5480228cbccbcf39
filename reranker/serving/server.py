"""The Jina-compatible rerank server: `POST /v1/rerank`, `GET /healthz`, `GET /metrics`.

`create_rerank_app(settings)` builds the app (nothing happens at import time); the model is loaded
in the app's lifespan unless a scorer is passed in. Requests from all clients go through one
`DynamicBatcher`, so concurrent requests share model batches. Every failure is a 4xx or 503/504
with a message; a client never sees a bare 500.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from reranker.batcher import BatcherClosed, DynamicBatcher, PairScorer, QueueFull
from reranker.jina_schema import RerankRequest, RerankResponse, response_from_scores, to_candidate, to_query
from reranker.types import Candidate, ImageInput, Query

log = logging.getLogger("folio.rerank.server")

# Visual tokens of an image at the m0 pixel cap; used only when the scorer cannot count tokens.
_IMAGE_TOKENS_ESTIMATE = 768


class RerankServerSettings(BaseModel):
    model_path: str | None = Field(default=None, description="local m0 folder or model id (loaded at startup)")
    model_name: str | None = Field(default=None, description="name reported in responses (default: the model's)")
    device: str = "auto"
    dtype: str = "auto"
    api_key: str | None = Field(default=None, description="require `Authorization: Bearer <key>` when set")
    max_queue: int = Field(default=64, ge=1, description="requests waiting before new ones get 503")
    max_batch_pairs: int = Field(default=64, ge=1, description="pairs scored together at most")
    batch_window_ms: float = Field(default=5.0, ge=0, description="how long to gather a batch")
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_documents: int = Field(default=1024, ge=1)
    max_body_mb: float = Field(default=64.0, gt=0, description="largest request body accepted")
    allow_urls: bool = False


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def estimate_tokens(pairs: Sequence[tuple[Query, Candidate]]) -> int:
    """A rough usage count (about 4 bytes of text per token) for scorers that cannot count."""

    def one(item: Query | Candidate) -> int:
        if isinstance(item, ImageInput):
            return _IMAGE_TOKENS_ESTIMATE
        text = item if isinstance(item, str) else item.text
        return max(1, len(text.encode()) // 4)

    return sum(one(q) + one(c) for q, c in pairs)


_UNION_MEMBERS = {"str", "TextDoc", "ImageDoc"}
_UNION_HINT = 'must be a string, {"text": ...} or {"image": ...}'


def _format_validation(exc: RequestValidationError) -> str:
    """One short line per bad field, e.g. `documents[2]: must be a string, {"text": ...} or ...`."""
    parts: list[str] = []
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if p != "body"]
        msg = str(err.get("msg", "invalid"))
        member = next((i for i, p in enumerate(loc) if p in _UNION_MEMBERS), None)
        if member is not None:  # pydantic reports each union member separately: say it once
            loc, msg = loc[:member], _UNION_HINT
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        line = f"{where or 'body'}: {msg}"
        if line not in parts:
            parts.append(line)
    return "; ".join(parts[:10]) or "invalid request"


def build_rerank_router(get_batcher: Any, settings: RerankServerSettings, model_name: Any) -> APIRouter:
    """The `/v1/rerank` route alone, for apps that mount it beside their own routes.
    `get_batcher()` and `model_name()` are called per request (the model loads after startup)."""
    router = APIRouter()

    def check_key(request: Request) -> None:
        if not settings.api_key:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), settings.api_key):
            raise ApiError(401, "missing or invalid API key", {"WWW-Authenticate": "Bearer"})

    @router.post(
        "/v1/rerank",
        response_model=RerankResponse,
        response_model_exclude_none=True,
        dependencies=[Depends(check_key)],
    )
    async def rerank(body: RerankRequest) -> RerankResponse:
        batcher: DynamicBatcher | None = get_batcher()
        if batcher is None:
            raise ApiError(503, "the model is still loading", {"Retry-After": "5"})
        if len(body.documents) > settings.max_documents:
            raise ApiError(413, f"too many documents: {len(body.documents)} > {settings.max_documents}")
        query = to_query(body.query)
        if isinstance(query, str) and not query.strip():
            raise ApiError(422, "query: the query text is empty")
        pairs = [(query, to_candidate(d)) for d in body.documents]
        try:
            future = batcher.submit(pairs)
        except QueueFull as exc:
            raise ApiError(503, str(exc), {"Retry-After": "1"}) from exc
        except BatcherClosed as exc:
            raise ApiError(503, str(exc)) from exc
        try:
            results = await asyncio.wait_for(asyncio.wrap_future(future), settings.request_timeout_s)
        except TimeoutError as exc:
            future.cancel()
            raise ApiError(504, f"reranking took longer than {settings.request_timeout_s:g}s") from exc
        except BatcherClosed as exc:
            raise ApiError(503, str(exc)) from exc
        except Exception as exc:  # the batch failed as a whole (device error, out of memory)
            log.exception("rerank batch failed")
            raise ApiError(503, f"reranking failed: {exc}") from exc
        errors = [
            f"documents[{i}]: {r}" for i, r in enumerate(results) if not isinstance(r, int | float)
        ]
        if errors:
            raise ApiError(422, "; ".join(errors))
        total = getattr(results, "tokens", None)  # counted while scoring (the local model does)
        if total is None:
            counter = getattr(batcher.scorer, "count_tokens", None)
            # Counting tokenises again (and reads images), so keep it off the event loop.
            total = int(await asyncio.to_thread(counter, pairs)) if callable(counter) else estimate_tokens(pairs)
        return response_from_scores(
            body.model or model_name(),
            body.documents,
            [float(r) for r in results],
            top_n=body.top_n,
            return_documents=body.return_documents,
            total_tokens=total,
        )

    return router


def _metrics_text(batcher: DynamicBatcher | None) -> str:
    if batcher is None:
        return "# the model is still loading\n"
    s = batcher.stats
    lines = [
        ("folio_rerank_requests_total", "counter", s.requests),
        ("folio_rerank_rejected_total", "counter", s.rejected),
        ("folio_rerank_batches_total", "counter", s.batches),
        ("folio_rerank_failed_batches_total", "counter", s.failed_batches),
        ("folio_rerank_pairs_total", "counter", s.pairs),
        ("folio_rerank_max_batch_pairs", "gauge", s.max_batch_pairs_seen),
        ("folio_rerank_max_batch_requests", "gauge", s.max_batch_requests_seen),
        ("folio_rerank_queue_depth", "gauge", batcher.queue_depth),
    ]
    out = []
    for name, kind, value in lines:
        out += [f"# TYPE {name} {kind}", f"{name} {value}"]
    return "\n".join(out) + "\n"


def _load_scorer(settings: RerankServerSettings) -> PairScorer:
    from reranker.m0.reranker import M0Reranker  # torch is imported only here

    assert settings.model_path
    return M0Reranker.from_pretrained(
        settings.model_path, device=settings.device, dtype=settings.dtype, allow_urls=settings.allow_urls
    )


def create_rerank_app(settings: RerankServerSettings, scorer: PairScorer | None = None) -> FastAPI:
    """The app. Pass `scorer` to serve an already-loaded model; else `settings.model_path` loads."""
    if scorer is None and not settings.model_path:
        raise ValueError("create_rerank_app needs a scorer or settings.model_path")
    state: dict[str, Any] = {"batcher": None, "name": settings.model_name or "jina-reranker-m0"}

    def start(s: PairScorer) -> None:
        state["batcher"] = DynamicBatcher(
            s,
            max_queue=settings.max_queue,
            max_batch_pairs=settings.max_batch_pairs,
            window_ms=settings.batch_window_ms,
        )
        state["name"] = settings.model_name or getattr(s, "model_name", None) or state["name"]
        app.state.batcher = state["batcher"]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        owned = scorer is None
        if state["batcher"] is None:
            start(scorer if scorer is not None else await asyncio.to_thread(_load_scorer, settings))
        try:
            yield
        finally:
            batcher = state["batcher"]
            if batcher is not None:
                batcher.close()
                if owned and hasattr(batcher.scorer, "close"):
                    batcher.scorer.close()

    app = FastAPI(title="Folio rerank", version="1", lifespan=lifespan)
    app.state.batcher = None
    if scorer is not None:
        start(scorer)  # usable before startup too (e.g. under a test client without lifespan)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        # Refuse oversized bodies from their declared length, before reading them into memory.
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_body_mb * (1 << 20):
            return JSONResponse(
                {"detail": f"request body over {settings.max_body_mb:g} MB"}, status_code=413
            )
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(_req: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _format_validation(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the rerank server")
        return JSONResponse({"detail": f"the reranker could not serve this request: {exc}"}, status_code=503)

    app.include_router(build_rerank_router(lambda: state["batcher"], settings, lambda: state["name"]))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        batcher: DynamicBatcher | None = state["batcher"]
        if batcher is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "model": state["name"],
                "queue_depth": batcher.queue_depth,
                "max_queue": batcher.max_queue,
                "batches": batcher.stats.batches,
            }
        )

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(_metrics_text(state["batcher"]))

    return app
