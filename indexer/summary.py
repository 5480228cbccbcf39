"""Options and the result of one indexing run (what `folio index --json` prints)."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from indexer.render import MAX_PIXELS, ImageFormat


class IndexOptions(BaseModel):
    collection: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = (
        "default"
    )
    groups: list[str] = Field(default_factory=list)  # ACL on every page; empty = public
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    embedder: str | None = None  # None: the store's recorded embedder, else the default
    page_timeout: float = Field(default=60.0, gt=0)  # seconds per page (OCR included)
    batch_size: int = Field(default=32, ge=1)  # pages per embedding batch and bulk write
    max_pixels: int = MAX_PIXELS
    image_format: ImageFormat = "auto"
    ocr: bool = True
    embed_chars: int = Field(default=2000, ge=1)  # text per page given to the embedder
    # Where PDF pages are embedded. "workers": beside rendering, so embedding runs on every core
    # (right for CPU embedders whose forward pass costs several times the render);
    # "parent": batched in the indexing process, loaded once (right for the default, a cheap
    # table lookup per page, and for torch models, which batch well and are too big to load
    # once per worker). "auto": the embedder's `runs_in_workers` says.
    embed_in: Literal["auto", "workers", "parent"] = "auto"
    # The page work on a Ray cluster at this address ("auto": the one this machine belongs to)
    # instead of local worker processes (indexer.ray_pool); embedding goes with it under "auto".
    ray: str | None = None
    quiet: bool = False
    # Documents indexed from under the run's paths whose source is gone are reported; with prune
    # they are removed from the store too.
    prune: bool = False
    s3_endpoint: str | None = None  # None: boto3's own (AWS_ENDPOINT_URL, the profile's, AWS)
    # An object larger is not downloaded (skipped with the reason); local files are read in place.
    max_download_mb: int = Field(default=1024, ge=1)
    bulk_load: bool = False  # the store's bulk-load mode for the run (Store.bulk_load)


class SkippedFile(BaseModel):
    source: str
    reason: str
    remembered: bool = False  # failed the same way before and unchanged since: not opened again

    def describe(self) -> str:
        return self.reason + (" (unchanged since it failed)" if self.remembered else "")


class FailedPage(BaseModel):
    source: str
    page_number: int
    reason: str


class IndexSummary(BaseModel):
    files_indexed: int = 0
    files_unchanged: int = 0
    deleted: list[str] = Field(default_factory=list)  # sources indexed before, gone from the paths
    pruned: int = 0  # of those, the documents removed (--prune)
    pages_indexed: int = 0
    skipped: list[SkippedFile] = Field(default_factory=list)
    failed_pages: list[FailedPage] = Field(default_factory=list)
    seconds: float = 0.0
    embedder: str = ""
    notes: list[str] = Field(default_factory=list)
    pages_per_node: dict[str, int] = Field(default_factory=dict)  # Ray node id -> pages it did (--ray)
