"""`create_app(settings)`: builds the FastAPI app and its services. Nothing is built at import
time, so tests and `folio serve` each make an app from their own settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from docstore.protocol import Store
from docstore.store import open_store
from reranker.types import RerankBackend
from search_api.embedding import QueryEmbedder
from search_api.errors import install_error_handlers
from search_api.indexing import UploadIndexer
from search_api.jobs import JobManager
from search_api.keys import KeyStore
from search_api.limits import ConcurrencyLimit
from search_api.metrics import Metrics
from search_api.middleware import BodyLimitMiddleware, MetricsMiddleware
from search_api.rerank_runner import RerankRunner
from search_api.routes import documents, health, me, pages, rerank, search
from search_api.search_service import SearchService
from search_api.settings import Settings

log = logging.getLogger("search_api")
STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    store: Store
    keys: KeyStore
    runner: RerankRunner
    search: SearchService
    query_embedder: QueryEmbedder
    jobs: JobManager
    search_limit: ConcurrencyLimit
    rerank_limit: ConcurrencyLimit
    upload_limit: ConcurrencyLimit

    def close(self) -> None:
        self.jobs.close()
        self.runner.close()
        self.keys.close()
        self.store.close()


def make_backend_from_settings(settings: Settings) -> RerankBackend | None:
    from reranker.backends.factory import make_backend

    return make_backend(settings.reranker)


def build_services(settings: Settings, backend: RerankBackend | None = None) -> Services:
    metrics = Metrics()
    store = open_store(settings.store)
    if backend is None:
        backend = make_backend_from_settings(settings)
    runner = RerankRunner(backend, settings.max_concurrent_reranks, metrics)
    embedder = None if settings.embedder == "default" else settings.embedder
    query_embedder = QueryEmbedder(store, embedder)
    service = SearchService(store, runner, query_embedder, settings, metrics)
    indexer = UploadIndexer(store, settings.upload_dir, embedder, settings.index_workers)
    return Services(
        settings=settings,
        metrics=metrics,
        store=store,
        keys=KeyStore(settings.resolved_keys_file()),
        runner=runner,
        search=service,
        query_embedder=query_embedder,
        jobs=JobManager(indexer, 1, settings.max_pending_jobs, metrics),
        search_limit=ConcurrencyLimit("search", settings.max_concurrent_searches, metrics),
        rerank_limit=ConcurrencyLimit("rerank", settings.max_concurrent_reranks, metrics),
        upload_limit=ConcurrencyLimit("upload", settings.max_concurrent_uploads, metrics),
    )


def create_app(settings: Settings | None = None, backend: RerankBackend | None = None) -> FastAPI:
    """`backend` overrides the reranker built from `settings.reranker` (an already loaded model)."""
    settings = settings or Settings()
    svc = build_services(settings, backend)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # In the background, so the server answers /healthz at once.
        threading.Thread(target=svc.query_embedder.warm_up, name="embedder-warm-up", daemon=True).start()
        yield
        svc.close()

    app = FastAPI(
        title="Folio search API",
        version="1.0",
        description="Visual-document search: first stage on the store, reranked by jina-reranker-m0.",
        lifespan=lifespan,
    )
    app.state.services = svc
    app.state.settings = settings
    app.state.keys = svc.keys
    app.state.metrics = svc.metrics
    install_error_handlers(app)
    for module in (search, rerank, documents, pages, me, health):
        app.include_router(module.router)

    upload_limit = settings.max_upload_mb << 20
    query_limit = (settings.max_query_image_mb << 20) * 4 // 3 + (1 << 20)  # base64 grows by a third

    def limit_for(path: str) -> int:
        return upload_limit if path.startswith("/v1/documents") else query_limit

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.add_middleware(MetricsMiddleware, metrics=svc.metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    _mount_portal(app)
    return app


def _mount_portal(app: FastAPI) -> None:
    index = STATIC_DIR / "index.html"
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False, response_model=None)
    async def portal() -> FileResponse | JSONResponse:
        if index.is_file():
            return FileResponse(index, media_type="text/html")
        return JSONResponse({"detail": "the portal is not installed; the API is at /docs"}, status_code=404)
