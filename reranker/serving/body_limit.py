"""One cap on request bodies for both servers (`folio serve`, `folio rerank-server`), as plain ASGI
middleware: a declared length over the limit is refused before anything is read, and a body sent
without one (`Transfer-Encoding: chunked`) is counted while it streams, so the request fails with
413 the moment it crosses the limit, never after it has been buffered whole."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Methods whose bodies no route reads: passed through untouched.
_BODILESS = ("GET", "HEAD", "OPTIONS", "DELETE")


class BodyTooLarge(HTTPException):
    """Raised from `receive` mid-body; FastAPI passes HTTPExceptions through its body parsing."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit))


class BodyLimitMiddleware:
    """`limit_for(path)` gives the byte limit for a request path."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODILESS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


def too_large_message(limit: int) -> str:
    return f"request body is larger than {limit / (1 << 20):g} MiB"


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large_message(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
