"""What an image input may be. Its own module because both `reranker.images` (decoding) and
`reranker.url_fetch` (fetching) read it, and neither may import the other back."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ImageLimits(BaseModel):
    """What an image input may be. URL fetching is off unless asked for; private and loopback
    addresses stay blocked even then unless `allow_private_urls` (tests, trusted networks)."""

    max_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    max_pixels: int = Field(default=40_000_000, gt=0)  # an A4 page at 600 dpi is ~35 MP
    allow_urls: bool = False
    allow_private_urls: bool = False
    url_timeout_s: float = Field(default=10.0, gt=0)
    max_redirects: int = Field(default=3, ge=0)
