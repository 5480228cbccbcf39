"""How rerank failures leave over HTTP, the same for every app that serves the rerank router."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from reranker.errors import CandidateError, DeadlineExceeded, ImageTooLarge, Overloaded, RerankError


def rerank_failed(exc: RerankError) -> HTTPException:
    """Overloaded: 503 with Retry-After; past the deadline: 504; the backend failing: 503."""
    if isinstance(exc, Overloaded):
        return HTTPException(503, str(exc), headers={"Retry-After": "1"})
    if isinstance(exc, DeadlineExceeded):
        return HTTPException(504, str(exc))
    return HTTPException(503, str(exc))


def unscorable(errors: Sequence[tuple[str, CandidateError]]) -> HTTPException:
    """Inputs that cannot be scored, as (where, error): 413 when an image is over a limit, else 422."""
    status = 413 if any(isinstance(e, ImageTooLarge) for _, e in errors) else 422
    return HTTPException(status, "; ".join(f"{where}: {e}" for where, e in errors[:20]))


# The members of the wire unions (a query or document item), as pydantic names them in an error's
# location, and how a message names them.
_UNION_MEMBERS = {"str": "a string", "TextDoc": '{"text": ...}', "ImageDoc": '{"image": ...}',
                  "Content": '{"content": [...]}'}  # fmt: skip


def format_validation(exc: RequestValidationError) -> str:
    """One short line per bad field, e.g. `documents[2]: must be a string, {"text": ...} or ...`."""
    errors = [
        ([p for p in err.get("loc", ()) if p != "body"], str(err.get("msg", "invalid")))
        for err in exc.errors()
    ]
    # pydantic reports each union member separately: say once what the item may be
    members: dict[tuple[Any, ...], list[str]] = {}
    for loc, _ in errors:
        at = next((i for i, p in enumerate(loc) if p in _UNION_MEMBERS), None)
        if at is not None and loc[at] not in members.setdefault(tuple(loc[:at]), []):
            members[tuple(loc[:at])].append(str(loc[at]))
    parts: list[str] = []
    for loc, msg in errors:
        at = next((i for i, p in enumerate(loc) if p in _UNION_MEMBERS), None)
        if at is not None:
            loc, msg = loc[:at], _may_be(members[tuple(loc[:at])])
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        line = f"{where or 'body'}: {msg}"
        if line not in parts:
            parts.append(line)
    return "; ".join(parts[:10]) or "invalid request"


def _may_be(members: list[str]) -> str:
    hints = [hint for name, hint in _UNION_MEMBERS.items() if name in members]
    return "must be " + (", ".join(hints[:-1]) + " or " + hints[-1] if len(hints) > 1 else hints[0])


def error_body(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error as the dialects' clients read it: `detail` (FastAPI's, Folio's other routes) and
    `message` (what Cohere's and OpenAI-style clients show)."""
    return JSONResponse({"detail": message, "message": message}, status_code=status, headers=headers)


class DialectRoute(APIRoute):
    """A route of a dialect whose clients read `message` (Cohere, vLLM, OpenAI's model list): its
    validation and HTTP errors leave as `error_body`, with the status codes of the Jina route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                return error_body(422, format_validation(exc))
            except StarletteHTTPException as exc:
                return error_body(exc.status_code, str(exc.detail), dict(exc.headers or {}))

        return route
