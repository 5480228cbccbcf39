from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from docstore.page_highlights import NO_QUERY, read_highlights
from search_api.auth import Caller, get_caller
from search_api.models import ErrorResponse, PageView, page_fields
from search_api.routes.deps import services

router = APIRouter(tags=["pages"])


def _media_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


async def _image(
    request: Request, page_id: str, kind: Literal["image", "thumbnail"], caller: Caller
) -> Response:
    svc = services(request)
    # The store applies the caller's groups, so a hidden page reads exactly like a missing one.
    data = await run_in_threadpool(svc.store.get_image, page_id, kind, caller.acl_groups())
    if not data:
        raise HTTPException(status_code=404, detail=f"no {kind} for page {page_id!r}")
    # Per-caller visibility: shared caches must not keep it.
    return Response(data, media_type=_media_type(data), headers={"Cache-Control": "private, max-age=3600"})


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "the image bytes"},
    401: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
}


@router.get(
    "/v1/pages/{page_id}/image", response_class=Response, responses=_RESPONSES, summary="A page image"
)
async def page_image(request: Request, page_id: str, caller: Caller = Depends(get_caller)) -> Response:
    return await _image(request, page_id, "image", caller)


@router.get(
    "/v1/pages/{page_id}/thumbnail", response_class=Response, responses=_RESPONSES, summary="A page thumbnail"
)
async def page_thumbnail(request: Request, page_id: str, caller: Caller = Depends(get_caller)) -> Response:
    return await _image(request, page_id, "thumbnail", caller)


@router.get(
    "/v1/pages/{page_id}",
    response_model=PageView,
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
    summary="A page, and where the words of a query are on its image",
)
def page_view(
    request: Request,
    page_id: str,
    q: str | None = Query(default=None, max_length=4096, description="the query whose words to mark"),
    caller: Caller = Depends(get_caller),
) -> PageView:
    # Read as hits are (no pictures), with the caller's groups: a hidden page is a missing one.
    store, groups = services(request).store, caller.acl_groups()
    pages = store.get_pages([page_id], groups=groups)
    if not pages:
        raise HTTPException(status_code=404, detail=f"no page {page_id!r}")
    page = pages[0]
    found = read_highlights(store, [page], q, groups)[page.page_id] if q and q.strip() else NO_QUERY
    return PageView(**page_fields(page, found))
