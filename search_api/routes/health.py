from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from search_api.routes.deps import services

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The store and the reranker are reachable")
async def readyz(request: Request) -> JSONResponse:
    svc = services(request)

    def _check() -> dict[str, bool]:
        try:
            store_ok = bool(svc.store.ping())
        except Exception:
            store_ok = False
        return {"store": store_ok, "reranker": svc.engine is None or svc.engine.ping()}

    checks = await run_in_threadpool(_check)
    ready = all(checks.values())
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(services(request).metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
