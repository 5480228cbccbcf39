"""The rerank server's API key, checked as plain ASGI middleware before a request's body is read:
a caller without the key gets 401 having sent nothing the server buffers or parses."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from reranker.serving.http_errors import error_body

OPEN_PATHS = ("/healthz", "/metrics")  # probes and scrapers carry no key


class ApiKeyGate:
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        refusal = error_body(401, "missing or invalid API key", {"WWW-Authenticate": "Bearer"})
        await refusal(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self.api_key)
