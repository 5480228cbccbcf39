from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response, StreamingResponse

from docstore.schema import DocumentInfo, Filters, page_id
from search_api.auth import Caller, get_caller
from search_api.indexing import ALLOWED_SUFFIXES, safe_name
from search_api.jobs import QueueFull
from search_api.keys import parse_groups
from search_api.models import (
    DeleteResponse,
    DocumentItem,
    DocumentPagesResponse,
    DocumentsResponse,
    ErrorResponse,
    JobAccepted,
    JobStatus,
    PageRef,
)
from search_api.routes.deps import services, visible

router = APIRouter(tags=["documents"])


def _errors(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": ErrorResponse} for code in codes}


def _visible_document(request: Request, doc_id: str, caller: Caller) -> DocumentInfo:
    info = services(request).store.get_document(doc_id)
    if info is None or not visible(info.acl, caller.acl_groups()):
        raise HTTPException(status_code=404, detail=f"no document {doc_id!r}")
    return info


@router.get("/v1/documents", response_model=DocumentsResponse, responses=_errors(401, 503))
def list_documents(
    request: Request, collection: str | None = Query(default=None), caller: Caller = Depends(get_caller)
) -> DocumentsResponse:
    docs = services(request).store.list_documents(
        Filters(collection=collection or None, groups=caller.acl_groups())
    )
    return DocumentsResponse(documents=[DocumentItem.model_validate(d.model_dump()) for d in docs])


@router.get("/v1/documents/{doc_id}/pages", response_model=DocumentPagesResponse, responses=_errors(401, 404))
def document_pages(
    request: Request, doc_id: str, caller: Caller = Depends(get_caller)
) -> DocumentPagesResponse:
    info = _visible_document(request, doc_id, caller)
    pages = []
    for number in range(1, info.page_count + 1):
        pid = page_id(doc_id, number)
        pages.append(
            PageRef(
                page_id=pid, page_number=number,
                thumbnail_url=f"/v1/pages/{pid}/thumbnail", image_url=f"/v1/pages/{pid}/image",
            )
        )  # fmt: skip
    url = f"/v1/documents/{doc_id}/file" if services(request).originals.available(info) else None
    return DocumentPagesResponse(doc_id=doc_id, pages=pages, document_url=url)


@router.get(
    "/v1/documents/{doc_id}/file",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}}}, **_errors(401, 404)},
    summary="The original file (uploads on an OpenSearch store: kept in the store; else while on disk)",
)
def document_file(request: Request, doc_id: str, caller: Caller = Depends(get_caller)) -> Response:
    info = _visible_document(request, doc_id, caller)
    original = services(request).originals.open(info)
    if original is None:
        raise HTTPException(status_code=404, detail=f"the original file of {doc_id!r} is no longer available")
    media = "application/pdf" if Path(original.name).suffix.lower() == ".pdf" else "text/plain; charset=utf-8"
    if original.path is not None:
        return FileResponse(
            original.path, media_type=media, filename=original.name, content_disposition_type="inline"
        )
    assert original.chunks is not None
    headers = {"Content-Length": str(original.size), "Content-Disposition": _inline(original.name)}
    return StreamingResponse(original.chunks, media_type=media, headers=headers)


def _inline(name: str) -> str:
    """The Content-Disposition FileResponse writes, for a file that is not on disk."""
    quoted = quote(name)
    return f"inline; filename*=utf-8''{quoted}" if quoted != name else f'inline; filename="{name}"'


@router.delete("/v1/documents/{doc_id}", response_model=DeleteResponse, responses=_errors(401, 403, 404))
def delete_document(request: Request, doc_id: str, caller: Caller = Depends(get_caller)) -> DeleteResponse:
    info = _visible_document(request, doc_id, caller)
    if not caller.may_change(info.acl):
        raise HTTPException(
            status_code=403, detail="only an admin key, or a key in all of its groups, may delete it"
        )
    return DeleteResponse(deleted_pages=services(request).store.delete_document(doc_id))


def _upload_acl(caller: Caller, requested: str | None) -> list[str]:
    groups = parse_groups(requested)
    if caller.admin:
        return groups
    if caller.anonymous:
        if groups:
            raise HTTPException(status_code=403, detail="anonymous uploads are public; sign in to set groups")
        return []
    if not groups:
        return list(caller.groups)  # a key's uploads are visible to its own groups by default
    outside = [g for g in groups if g not in caller.groups]
    if outside:
        raise HTTPException(status_code=403, detail=f"you are not in group(s) {', '.join(outside)}")
    return groups


def _check_file(upload: UploadFile) -> str:
    name = safe_name(upload.filename or "")
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise HTTPException(status_code=415, detail=f"{name}: only PDF, .txt and .md files can be indexed")
    head = upload.file.read(1024)
    upload.file.seek(0)
    if suffix == ".pdf" and b"%PDF" not in head:
        raise HTTPException(status_code=415, detail=f"{name}: not a PDF file")
    if suffix != ".pdf" and b"\x00" in head:
        raise HTTPException(status_code=415, detail=f"{name}: not a text file")
    return name


@router.post(
    "/v1/documents",
    status_code=202,
    response_model=JobAccepted,
    responses=_errors(401, 403, 413, 415, 422, 429, 503),
    summary="Upload PDF or text files to index in the background",
)
async def upload_documents(
    request: Request,
    files: list[UploadFile] = File(..., description="PDF, .txt or .md files"),
    collection: str = Form(default="default", min_length=1, max_length=200),
    groups: str | None = Form(default=None, description="comma-separated ACL groups"),
    caller: Caller = Depends(get_caller),
) -> JobAccepted:
    svc = services(request)
    acl = _upload_acl(caller, groups)
    if not files:
        raise HTTPException(status_code=422, detail="no files given")
    with svc.upload_limit.slot():
        names = await run_in_threadpool(lambda: [_check_file(f) for f in files])
        try:
            svc.jobs.reserve()
        except QueueFull as exc:
            raise HTTPException(
                status_code=429,
                detail=f"indexing queue is full ({exc}); retry later",
                headers={"Retry-After": "5"},
            ) from None
        try:
            saved = await run_in_threadpool(_save_all, svc.settings.upload_dir, files, names)
        except BaseException:
            svc.jobs.release()
            raise
        # off the event loop: the job's first record is a write to the store
        job = await run_in_threadpool(svc.jobs.submit, saved, collection.strip() or "default", acl, caller)
    return JobAccepted(job_id=job.job_id, status_url=f"/v1/jobs/{job.job_id}")


def _save_all(upload_dir: Path, files: list[UploadFile], names: list[str]) -> list[tuple[str, Path]]:
    incoming = upload_dir / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    saved = []
    for upload, name in zip(files, names, strict=True):
        path = incoming / f"{uuid.uuid4().hex}__{name}"
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out, length=1 << 20)
        saved.append((name, path))
    return saved


@router.get("/v1/jobs/{job_id}", response_model=JobStatus, responses=_errors(401, 404))
def job_status(request: Request, job_id: str, caller: Caller = Depends(get_caller)) -> JobStatus:
    job = services(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
    return job
