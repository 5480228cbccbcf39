"""Turn an image candidate or query (path, bytes, PIL image, base64, data URL, http(s) URL, or a
WireImage from a request) into a PIL image, with size and pixel limits. Every failure is a
CandidateError naming the cause (ImageTooLarge for a byte or pixel limit)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from reranker.errors import CandidateError, ImageTooLarge
from reranker.image_limits import ImageLimits
from reranker.types import WireImage
from reranker.url_fetch import fetch_url

# ImageLimits is re-exported: callers import it from here, beside the functions that take it.
__all__ = [
    "ImageLimits",
    "decode_image",
    "read_bytes",
    "read_image",
]


def read_image(source: Any, limits: ImageLimits) -> tuple[str, bytes | Image.Image]:
    """(content key, raw bytes or the PIL image given), without decoding: a cached page needs no decode."""
    if isinstance(source, Image.Image):
        _check_pixels(source.size, limits)
        digest = hashlib.blake2b(source.tobytes(), digest_size=16)
        digest.update(f"{source.mode}{source.size}".encode())
        return digest.hexdigest(), source
    data = read_bytes(source, limits)
    return hashlib.blake2b(data, digest_size=16).hexdigest(), data


def decode_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """Decode fully, after checking the pixel count from the header (a decompression bomb is
    refused before it is decoded)."""
    if not data:
        raise CandidateError("image is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))  # lazy: reads the header only
    except UnidentifiedImageError:
        raise CandidateError("not a readable image (unknown or corrupt format)") from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image too large: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise CandidateError(f"corrupt image: {exc}") from None
    _check_pixels(image.size, limits)
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image too large: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise CandidateError(f"corrupt image: {exc}") from None
    return image


def _check_pixels(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise CandidateError(f"image has no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"image too large: {width}x{height} pixels = {width * height / 1e6:.1f} MP "
            f"exceeds the limit of {limits.max_pixels / 1e6:.1f} MP"
        )


def read_bytes(source: Any, limits: ImageLimits) -> bytes:
    """The encoded bytes of any image input but a PIL image, within the byte limit."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, Path):
        data = _read_file(source, limits)
    elif isinstance(source, str):
        data = _string_bytes(source, limits, files=True)
    elif isinstance(source, WireImage):
        data = _string_bytes(source.text, limits, files=False)
    else:
        raise CandidateError(f"unsupported image input of type {type(source).__name__}")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"image is {len(data)} bytes, over the limit of {limits.max_bytes}")
    return data


def _string_bytes(text: str, limits: ImageLimits, files: bool) -> bytes:
    """The bytes an image string stands for: an http(s) URL (fetched when `limits` allow), a data
    URL, base64, or, only when `files`, the path of a local file."""
    text = text.strip()
    if text.startswith(("http://", "https://")):
        return fetch_url(text, limits)
    if text.startswith("data:"):
        return _decode_data_url(text, limits)
    if files and len(text) < 4096 and os.path.isfile(text):
        return _read_file(Path(text), limits)
    what = "an existing file, an http(s) URL" if files else "an http(s) URL"
    return _decode_base64(text, limits, f"image string is neither {what}, a data URL nor valid base64")


def _read_file(path: Path, limits: ImageLimits) -> bytes:
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ImageTooLarge(f"image file {path} is {size} bytes, over the limit of {limits.max_bytes}")
        return path.read_bytes()
    except OSError as exc:
        raise CandidateError(f"cannot read image file {path}: {exc.strerror or exc}") from None


def _decode_data_url(text: str, limits: ImageLimits) -> bytes:
    header, sep, payload = text.partition(",")
    if not sep or ";base64" not in header:
        raise CandidateError("data URL must be base64-encoded (data:image/...;base64,...)")
    return _decode_base64(payload, limits, "data URL payload is not valid base64")


def _decode_base64(text: str, limits: ImageLimits, invalid: str) -> bytes:
    if not text:
        raise CandidateError("image input is an empty string")
    # The bytes it stands for are known from its length: over the limit, it is never decoded.
    size = len(text) * 3 // 4
    if size > limits.max_bytes + 2:  # up to two padding characters
        raise ImageTooLarge(f"image is about {size} bytes, over the limit of {limits.max_bytes}")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CandidateError(invalid) from None
