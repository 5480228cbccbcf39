"""`create_app(settings)`: builds the FastAPI app and its services. Nothing is built at import
time, so tests and `folio serve` each make an app from their own settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from reranker.serving.body_limit import BodyLimitMiddleware
from reranker.serving.router import build_rerank_router
from reranker.types import Scorer
from search_api.auth import get_caller
from search_api.errors import install_error_handlers
from search_api.middleware import MetricsMiddleware
from search_api.oidc import build_verifier
from search_api.portal_login import PortalLogin
from search_api.query_image import image_limits, read_image_input
from search_api.routes import documents, health, me, pages, portal_auth, search
from search_api.services import build_services
from search_api.settings import Settings

log = logging.getLogger("search_api")
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, scorer: Scorer | None = None) -> FastAPI:
    """`scorer` overrides the reranker built from `settings.reranker` (an already loaded model)."""
    settings = settings or Settings()
    oidc = build_verifier(settings)  # before the services: a set-up error opens nothing
    svc = build_services(settings, scorer)

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
    app.state.oidc = oidc
    app.state.portal_login = PortalLogin(
        svc.sessions, svc.keys, oidc, settings.oidc_client_id, settings.oidc_client_secret, settings.oidc_scope
    )
    app.state.metrics = svc.metrics
    install_error_handlers(app)
    for module in (search, documents, pages, me, portal_auth, health):
        app.include_router(module.router)
    limits = image_limits(settings)
    app.include_router(
        build_rerank_router(lambda: svc.engine, get_caller, lambda image: read_image_input(image, limits))
    )

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
