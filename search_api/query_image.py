"""Images in API requests (query images, /v1/rerank documents): read and decode them with the
reranker's image reader, turning its errors into 400 or 413, and read a query image's text with
OCR so the text first stage can run on it."""

from __future__ import annotations

import io
import logging
import threading
from typing import TYPE_CHECKING

from fastapi import HTTPException
from PIL import Image

from reranker.errors import CandidateError, ImageTooLarge
from reranker.images import ImageLimits, decode_image, read_bytes
from reranker.types import ImageInput, WireImage

if TYPE_CHECKING:
    from search_api.settings import Settings

log = logging.getLogger(__name__)
_OCR_LOCK = threading.Lock()  # Tesseract through PyMuPDF is not re-entrant
_OCR_MAX_SIDE = 2000  # OCR cost grows with pixels; text stays legible at this size


def image_limits(settings: Settings) -> ImageLimits:
    """What a request's image may be: the server's byte and pixel caps, and URLs only when allowed."""
    return ImageLimits(
        max_bytes=settings.max_query_image_mb << 20,
        max_pixels=settings.max_query_image_pixels,
        allow_urls=settings.allow_image_urls,
        url_timeout_s=settings.image_url_timeout_s,
    )


def read_image_input(image: ImageInput, limits: ImageLimits) -> ImageInput:
    """A `/v1/rerank` image read and checked here with the API's limits, so the reranker gets bytes
    (whatever backend it is) and a bad image is the caller's error. Raises CandidateError."""
    raw, _ = _read_and_decode(image.image, limits)
    return ImageInput(raw)


def _read_and_decode(source: object, limits: ImageLimits) -> tuple[bytes, Image.Image]:
    raw = read_bytes(source, limits)
    return raw, decode_image(raw, limits)


def load_request_image(source: str | bytes, limits: ImageLimits) -> tuple[bytes, Image.Image]:
    """The bytes and the decoded image of an uploaded image or of a request's image string (base64,
    a data URL, or an http(s) URL where the server allows them; never a path on this server).
    Raises 400 saying what is wrong, or 413 for a byte or pixel limit."""
    try:
        return _read_and_decode(source if isinstance(source, bytes) else WireImage(source), limits)
    except ImageTooLarge as exc:
        raise HTTPException(status_code=413, detail=str(exc)) from None
    except CandidateError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def ocr_text(img: Image.Image) -> str | None:
    """The text in an image, or None when OCR (Tesseract via PyMuPDF) is not available."""
    try:
        import pymupdf

        from indexer.ocr import find_ocr
    except ImportError:
        return None
    config = find_ocr()
    if config is None:
        return None
    work = img.convert("RGB")
    if max(work.size) > _OCR_MAX_SIDE:
        work.thumbnail((_OCR_MAX_SIDE, _OCR_MAX_SIDE))
    buf = io.BytesIO()
    work.save(buf, format="PNG")
    try:
        with _OCR_LOCK:
            pdf = pymupdf.Pixmap(buf.getvalue()).pdfocr_tobytes(
                language=config.languages, tessdata=config.tessdata
            )
            with pymupdf.open("pdf", pdf) as doc:
                return " ".join(page.get_text() for page in doc).strip()
    except Exception as exc:  # no Tesseract / tessdata on this machine
        log.info("OCR unavailable for query image: %s", exc)
        return None
