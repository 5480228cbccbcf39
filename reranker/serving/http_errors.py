"""How rerank failures leave over HTTP, the same for every app that serves `/v1/rerank`."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

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


_UNION_MEMBERS = {"str", "TextDoc", "ImageDoc"}
_UNION_HINT = 'must be a string, {"text": ...} or {"image": ...}'


def format_validation(exc: RequestValidationError) -> str:
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
