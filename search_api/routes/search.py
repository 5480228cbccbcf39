from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from docstore.schema import MAX_OFFSET, MAX_TOP_K, MAX_TOP_N, Filters, SearchMode
from search_api.auth import Caller, get_caller
from search_api.models import ErrorResponse, SearchBody, SearchResponse
from search_api.query_image import image_limits, load_request_image, ocr_text
from search_api.routes.deps import services
from search_api.search_service import SearchInput

router = APIRouter(tags=["search"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 503)
}


def _prepare(request: Request, body: SearchBody, image: str | bytes | None, caller: Caller) -> SearchInput:
    """Validate the query and turn a query image (uploaded bytes, or the body's image string) into
    first-stage text (OCR) plus the image. Runs in the threadpool: an image URL may be fetched."""
    text = (body.query or "").strip()
    note = None
    image_bytes = None
    from_image = False
    if image is not None:
        image_bytes, img = load_request_image(image, image_limits(services(request).settings))
        if not text:
            from_image = True
            ocr = ocr_text(img)
            if ocr is None:
                note = "the query image could not be read as text (OCR is unavailable), so the first stage found nothing"
            elif not ocr.strip():
                note = "the query image contains no readable text, so the text first stage found nothing"
            text = (ocr or "").strip()
    elif not text:
        raise HTTPException(status_code=400, detail="give a non-empty 'query' or an 'image'")
    return SearchInput(
        text=text,
        image=image_bytes,
        mode=body.mode,
        top_k=body.top_k,
        top_n=body.top_n,
        offset=body.offset,
        filters=Filters(
            collection=body.collection or None,
            doc_id=body.doc_id or None,
            language=body.language or None,
            groups=caller.acl_groups(),
        ),
        rerank=body.rerank,
        feedback=body.feedback,
        note=note,
        text_from_image=from_image,
    )


async def _run(request: Request, body: SearchBody, image: str | bytes | None, caller: Caller) -> Response:
    """The search and its JSON encoding run in the threadpool, keeping the event loop free. The
    response model is serialised once, here: returning a Response skips FastAPI's second
    validation pass over the model (the route's response_model still documents the shape)."""
    svc = services(request)
    with svc.search_limit.slot():  # sheds with 503 when every search slot is taken

        def _work() -> bytes:
            return svc.search.search(_prepare(request, body, image, caller)).model_dump_json().encode()

        return Response(content=await run_in_threadpool(_work), media_type="application/json")


@router.post(
    "/v1/search",
    response_model=SearchResponse,
    responses=_ERRORS,
    summary="Search pages: first stage, then the reranker",
)
async def search(request: Request, body: SearchBody, caller: Caller = Depends(get_caller)) -> Response:
    return await _run(request, body, body.image or None, caller)


@router.post(
    "/v1/search/image",
    response_model=SearchResponse,
    responses=_ERRORS,
    summary="Search with an uploaded query image (multipart form)",
)
async def search_image(
    request: Request,
    image: UploadFile = File(..., description="the query image"),
    query: str | None = Form(default=None, max_length=4096),
    mode: SearchMode = Form(default=SearchMode.hybrid),
    top_k: int = Form(default=50, ge=1, le=MAX_TOP_K),
    top_n: int = Form(default=10, ge=1, le=MAX_TOP_N),
    offset: int = Form(default=0, ge=0, le=MAX_OFFSET),
    collection: str | None = Form(default=None),
    doc_id: str | None = Form(default=None),
    language: str | None = Form(default=None),
    rerank: bool = Form(default=True),
    caller: Caller = Depends(get_caller),
) -> Response:
    body = SearchBody(
        query=query,
        mode=mode,
        top_k=top_k,
        top_n=top_n,
        offset=offset,
        collection=collection,
        doc_id=doc_id,
        language=language,
        rerank=rerank,
    )
    raw = await image.read()
    return await _run(request, body, raw, caller)
