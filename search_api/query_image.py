"""Query images: decode base64 / data URLs, refuse corrupt or oversized images, and read their
text with OCR so the text first stage can run on an image query."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import threading

from fastapi import HTTPException
from PIL import Image

log = logging.getLogger(__name__)
_OCR_LOCK = threading.Lock()  # Tesseract through PyMuPDF is not re-entrant
_OCR_MAX_SIDE = 2000  # OCR cost grows with pixels; text stays legible at this size


def decode_base64_image(data: str) -> bytes:
    """Raw bytes of a base64 string or a `data:image/...;base64,` URL (400 when malformed)."""
    payload = data.strip()
    if payload.startswith("data:"):
        header, sep, payload = payload.partition(",")
        if not sep or ";base64" not in header:
            raise HTTPException(status_code=400, detail="image data URL must be base64-encoded")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(status_code=400, detail="image is not valid base64") from None


def check_image(raw: bytes, max_bytes: int, max_pixels: int) -> Image.Image:
    """Open and fully decode an image, or raise 400/413 with a message saying what is wrong."""
    if not raw:
        raise HTTPException(status_code=400, detail="image is empty")
    if len(raw) > max_bytes:
        raise HTTPException(status_code=413, detail=f"image is larger than {max_bytes // (1 << 20)} MiB")
    try:
        img = Image.open(io.BytesIO(raw))  # reads the header only
        width, height = img.size
        if width * height > max_pixels:  # refuse before decoding a decompression bomb
            raise HTTPException(
                status_code=413,
                detail=f"image has {width}x{height} pixels; the limit is {max_pixels} pixels",
            )
        img.load()
    except HTTPException:
        raise
    except Image.DecompressionBombError:
        raise HTTPException(status_code=413, detail="image has too many pixels") from None
    except Exception as exc:  # PIL raises many types for corrupt data
        raise HTTPException(status_code=400, detail=f"image could not be decoded: {exc}") from None
    if width < 1 or height < 1:
        raise HTTPException(status_code=400, detail="image has no pixels")
    return img


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
