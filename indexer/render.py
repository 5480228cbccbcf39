"""Page images sized for the reranker: the zoom that fits m0's pixel budget, and compact encodings.
PIL and PyMuPDF are imported where they are used: the indexing process imports this module for its
constants only, and rendering happens in the worker processes."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image

    from indexer.mupdf import pymupdf

# jina-reranker-m0's image processor: at most 768 visual tokens (768·28·28 pixels), at least 4·28·28.
MAX_PIXELS = 602112
MIN_PIXELS = 3136
THUMB_WIDTH = 256
# Pages without raster content whose JPEG is this large are also tried as PNG (busy vector art
# often compresses better losslessly); below it JPEG wins and the slower PNG encode is skipped.
PNG_TRY_BYTES = 150_000

# Largest difference between a colour's RGB components (0–1) that still counts as gray: about 5 of
# 255 levels, so grays that CMYK or ICC conversion tints slightly still render in one channel.
GRAY_TOLERANCE = 0.02

ImageFormat = Literal["auto", "jpeg", "png"]


def zoom_for_budget(
    width_pt: float, height_pt: float, max_pixels: int = MAX_PIXELS, min_pixels: int = MIN_PIXELS
) -> float:
    """The uniform zoom (1.0 = 72 dpi) whose rendered size holds at most `max_pixels`
    and at least `min_pixels`; aspect ratio is kept because both axes share the zoom."""
    area = max(width_pt, 1.0) * max(height_pt, 1.0)
    zoom = math.sqrt(max_pixels / area)
    # Rounding the pixel sizes up can overshoot by a row or column: step down until it fits.
    while math.ceil(width_pt * zoom) * math.ceil(height_pt * zoom) > max_pixels and zoom > 1e-6:
        zoom *= 0.999
    if math.ceil(width_pt * zoom) * math.ceil(height_pt * zoom) < min_pixels:
        zoom = math.sqrt(min_pixels / area) * 1.001
    return zoom


def render_page(
    page: pymupdf.Page,
    max_pixels: int = MAX_PIXELS,
    display_list: pymupdf.DisplayList | None = None,
    gray: bool = False,
) -> pymupdf.Pixmap:
    """Render the page (rotation applied) within the pixel budget, on opaque white. Pass the page's
    display list when the caller also extracts text from it: the content stream is then parsed once.
    `gray` renders one gray channel (for pages that draw nothing in colour, see `draws_only_gray`)."""
    rect = page.rect  # already rotated
    dl = display_list if display_list is not None else page.get_displaylist()
    zoom = zoom_for_budget(rect.width, rect.height, max_pixels)
    pix = _draw(dl, zoom, gray)
    # The clip can still round up by one pixel on odd boxes; a second, slightly smaller pass fixes it.
    if pix.width * pix.height > max_pixels:
        zoom *= math.sqrt(max_pixels / (pix.width * pix.height)) * 0.998
        pix = _draw(dl, zoom, gray)
    return pix


def draws_only_gray(display_list: pymupdf.DisplayList) -> bool:
    """Whether every mark on the page is gray: text, paths, shadings and images in a gray colour
    space, colours within GRAY_TOLERANCE of gray. Such a page loses nothing rendered into one
    channel, which draws faster and lightens the JPEG and thumbnail work. MuPDF's test device
    decides without decoding images: an image in a colour space counts as colour, so a colour page
    is never rendered gray (at worst a gray photo in an RGB image is rendered in colour)."""
    from indexer.mupdf import pymupdf

    mu = pymupdf.mupdf
    found = mu.ll_fz_new_test_device_outparams()  # the device writes its verdict here as it runs
    device = mu.FzDevice(mu.ll_fz_new_test_device_outparams_fn(GRAY_TOLERANCE, 0, None, found))
    try:
        mu.fz_run_display_list(
            display_list.this, device, mu.FzMatrix(), mu.FzRect(mu.FzRect.Fixed_INFINITE), mu.FzCookie()
        )
        mu.fz_close_device(device)
    except Exception:  # anything odd: keep the colour render
        return False
    return found.is_color == 0


def _draw(dl: pymupdf.DisplayList, zoom: float, gray: bool = False) -> pymupdf.Pixmap:
    """Draw into a pixmap cleared to opaque white: one gray channel, or RGBA with every pixel
    opaque so the samples read as RGBX. MuPDF draws 4-byte pixels faster than packed RGB (on text
    and scan pages alike), and PIL takes RGBX as it stores images, without unpacking each pixel."""
    from indexer.mupdf import pymupdf

    mu = pymupdf.mupdf
    ctm = mu.FzMatrix(zoom, 0, 0, zoom, 0, 0)
    bbox = mu.fz_round_rect(mu.fz_transform_rect(mu.fz_bound_display_list(dl.this), ctm))
    space = mu.FzColorspace(mu.FzColorspace.Fixed_GRAY if gray else mu.FzColorspace.Fixed_RGB)
    pix = mu.fz_new_pixmap_with_bbox(space, bbox, mu.FzSeparations(), 0 if gray else 1)
    mu.fz_clear_pixmap_with_value(pix, 0xFF)  # white (and alpha 255)
    dev = mu.fz_new_draw_device(ctm, pix)
    try:
        mu.fz_run_display_list(
            dl.this, dev, mu.FzMatrix(), mu.FzRect(mu.FzRect.Fixed_INFINITE), mu.FzCookie()
        )
    finally:
        mu.fz_close_device(dev)
    return pymupdf.Pixmap("raw", pix)


def to_pil(pix: pymupdf.Pixmap) -> Image.Image:
    """The pixmap as a PIL image. An opaque RGBA pixmap (render_page's) becomes an RGBX image over
    one copy of the samples (a bytes object the image owns; viewing MuPDF's memory directly would
    outlive the pixmap); a gray one becomes an L image; packed RGB is unpacked into PIL's 4-byte
    pixels."""
    from PIL import Image

    if pix.alpha:
        return Image.frombuffer("RGBX", (pix.width, pix.height), pix.samples, "raw", "RGBX", pix.stride, 1)
    if pix.n == 1:
        return Image.frombytes("L", (pix.width, pix.height), pix.samples_mv, "raw", "L", pix.stride, 1)
    return Image.frombytes("RGB", (pix.width, pix.height), pix.samples_mv, "raw", "RGB", pix.stride, 1)


def encode_image(img: Image.Image, has_raster: bool, fmt: ImageFormat = "auto") -> tuple[bytes, str]:
    """Encode the page image; returns (bytes, "jpeg"|"png"). PIL's JPEG encoder is several times
    faster than a PNG encode and smaller for most pages, so "auto" starts with JPEG."""
    if fmt == "png":
        return _png(img), "png"
    jpeg = _jpeg(img, 85)
    if fmt == "auto" and not has_raster and len(jpeg) > PNG_TRY_BYTES:
        png = _png(img)
        if len(png) < len(jpeg):
            return png, "png"
    return jpeg, "jpeg"


def thumbnail(img: Image.Image, width: int = THUMB_WIDTH) -> bytes:
    """A JPEG at most `width` pixels wide (and more than half of it): one integer box reduction
    of the page image. Resampling to exactly `width` cost much more again, for a picture the
    portal scales to its card anyway."""
    if img.width > width:
        img = img.reduce(math.ceil(img.width / width))
    return _jpeg(img, 75)


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    (img.convert("RGB") if img.mode == "RGBX" else img).save(buf, "PNG", compress_level=6)
    return buf.getvalue()
