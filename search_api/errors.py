"""Every error leaves the API as JSON `{"detail": "<message>"}`. The one place where domain errors
become status codes: validation problems 422, invalid requests 400, a rejected access token 401
with its RFC 6750 challenge, an unreachable store or an unavailable dependency (the identity
provider included) 503, anything unexpected a logged, clean 500. (The rerank route maps the
reranker's errors with `reranker.serving.http_errors`, shared with the rerank server.)"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from docstore.protocol import StoreUnavailable
from reranker.serving.http_errors import format_validation
from search_api.oidc import TokenRejected
from search_api.service_errors import InvalidRequest, ServiceUnavailable

log = logging.getLogger("search_api")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": format_validation(exc)}, status_code=422)

    @app.exception_handler(InvalidRequest)
    async def _bad_request(_request: Request, exc: InvalidRequest) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(TokenRejected)
    async def _token_rejected(_request: Request, exc: TokenRejected) -> JSONResponse:
        # RFC 6750 allows printable ASCII but `"` and `\` in error_description.
        description = "".join(c for c in str(exc) if " " <= c <= "~" and c not in '"\\')
        challenge = f'Bearer error="invalid_token", error_description="{description}"'
        return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": challenge})

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_request: Request, exc: ServiceUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"the document store is unavailable: {exc}"}, status_code=503)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        app.state.metrics.unexpected_errors.inc()
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); the server log has the details"},
            status_code=500,
        )
