"""`M0Reranker`: jina-reranker-m0 run locally (the `local` backend)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from reranker.errors import BackendFailed, CandidateError, require_torch
from reranker.types import Candidate, Query, RerankOutput, RerankScores

require_torch()

import torch  # noqa: E402

from reranker.checkpoint import resolve_checkpoint  # noqa: E402
from reranker.images import ImageLimits  # noqa: E402
from reranker.lru import LRUFront  # noqa: E402
from reranker.m0.card_api import card_result, checked_max_length, given_pairs, to_inputs  # noqa: E402
from reranker.m0.loading import load_model, load_tokenizer  # noqa: E402
from reranker.m0.model import M0RankingModel  # noqa: E402
from reranker.m0.pipeline import Pipeline  # noqa: E402
from reranker.m0.prefix import PrefixCache  # noqa: E402
from reranker.m0.prepare import Preparer  # noqa: E402
from reranker.m0.runner import ModelRunner  # noqa: E402
from reranker.m0.vision import MAX_PIXELS, MIN_PIXELS, ImagePreprocessor, VisionCache  # noqa: E402

__all__ = ["CandidateError", "M0Options", "M0Reranker"]


class M0Options(BaseModel):
    """Tuning of the local reranker (everything but the model location)."""

    max_length: int = Field(default=10240, ge=64)
    # Padded tokens (text + visual) per model batch, the one batch limit (see reranker/m0/pipeline.py);
    # None: by device, 32768 on a GPU, 8192 on a CPU.
    max_batch_tokens: int | None = Field(default=None, ge=64)
    workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1)
    vision_cache_mb: int = Field(default=512, ge=0)
    # Document key/value prefixes (~28 KB per token for the full model in bf16; 0 turns it off).
    prefix_cache_mb: int = Field(default=2048, ge=0)
    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS
    image_limits: ImageLimits = Field(default_factory=ImageLimits)


class M0Reranker:
    """Scores (query, candidate) pairs, text or image on either side, with m0's published scoring:
    batching, padding and order never change a score."""

    name = "local"

    def __init__(self, model: M0RankingModel, tokenizer: Any, folder: Path, model_name: str, opts: M0Options):
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.folder = folder
        self.options = opts
        device = next(model.parameters()).device
        self.device = device
        self.vision_cache = VisionCache(opts.vision_cache_mb * 1024 * 1024)
        self.prefix_cache = PrefixCache(opts.prefix_cache_mb * 1024 * 1024)
        preprocessor = ImagePreprocessor(folder, opts.min_pixels, opts.max_pixels)
        self.preparer = Preparer(
            tokenizer,
            preprocessor,
            self.vision_cache,
            opts.image_limits,
            opts.max_length,
            model.image_token_id,
            self.prefix_cache,
        )
        budget = opts.max_batch_tokens or (32768 if device.type == "cuda" else 8192)
        self.runner = ModelRunner(model, self.vision_cache, int(tokenizer.pad_token_id), self.prefix_cache)
        # On the CPU, preparation and the model take turns, each on all cores (see reranker/m0/gate.py).
        cpu = device.type == "cpu"
        workers = min(opts.workers, os.cpu_count() or 1) if cpu else opts.workers
        self.pipeline = Pipeline(self.preparer, self.runner, workers, budget, take_turns=cpu)
        self._closed = False

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str,
        device: str = "auto",
        dtype: str = "auto",
        attn: str = "auto",
        max_length: int = 10240,
        allow_urls: bool = False,
        **kw: Any,
    ) -> M0Reranker:
        """Load a checkpoint folder (or a model id, with network access). Extra keywords are
        `M0Options` fields, plus `allow_private_urls`, `max_image_pixels`, `max_image_bytes`."""
        limits = ImageLimits(
            allow_urls=allow_urls,
            allow_private_urls=bool(kw.pop("allow_private_urls", False)),
            **({"max_pixels": kw.pop("max_image_pixels")} if "max_image_pixels" in kw else {}),
            **({"max_bytes": kw.pop("max_image_bytes")} if "max_image_bytes" in kw else {}),
        )
        name = kw.pop("model_name", None)
        opts = M0Options(max_length=max_length, image_limits=limits, **kw)
        folder = resolve_checkpoint(str(path_or_id))
        model = load_model(folder, device=device, dtype=dtype, attn=attn)
        tokenizer = load_tokenizer(folder)
        return cls(model, tokenizer, folder, name or _default_name(path_or_id), opts)

    # One model on one device: the engine hands over concurrent calls together, and the pipeline
    # forms their token-budget batches.
    shares_batches = True

    def score_pairs(
        self, pairs: Sequence[tuple[Query, Candidate]], max_doc_tokens: int | None = None
    ) -> RerankScores:
        """One score per pair (any mix of queries), or the CandidateError that pair failed with, and
        the text + visual tokens each pair cost (0 if it failed), counted from the prepared inputs.
        `max_doc_tokens` cuts each text document to at most that many tokens, below the cut that
        `max_length` makes (the pair stays within `max_length` either way)."""
        if self._closed:
            raise BackendFailed("this reranker is closed")
        if max_doc_tokens is not None and (not isinstance(max_doc_tokens, int) or max_doc_tokens < 1):
            raise ValueError(f"max_doc_tokens must be a positive integer, not {max_doc_tokens!r}")
        return self.pipeline.run(list(pairs), self.model_name, max_doc_tokens=max_doc_tokens)

    def rerank(
        self,
        query: Query,
        documents: Sequence[Candidate],
        top_n: int | None = None,
        return_documents: bool = False,
    ) -> RerankOutput:
        """The documents ranked for the query, best first (see `rank_results`)."""
        scored = self.score_pairs([(query, d) for d in documents])
        return scored.output(top_n, documents if return_documents else None)

    def compute_score(
        self,
        pairs: Sequence[Any],
        *,
        max_length: int | None = None,
        doc_type: str = "text",
        query_type: str = "text",
        batch_size: int | None = None,
    ) -> float | list[float]:
        """The model card's API: `pairs` is a list of `[query, document]` (or one such pair);
        `query_type` / `doc_type` ("text" or "image") say what every query / document is. An image
        is a file path (str or Path), a PIL image, bytes, base64 / a data URL, or an http(s) URL
        (fetched only when loaded with `allow_urls=True`). Scores equal `score_pairs`' / `rerank`'s.

        Returns the scores in input order, and, as the card's code does, a bare float when there is
        exactly one pair. A pair that cannot be scored raises its CandidateError (ImageTooLarge for
        a size limit), naming the pair: the card's API has no per-pair error.

        `max_length` (default: the configured one) truncates as the card does: a text document to
        `max(max_length - 512, 512)` tokens, the whole pair to `max_length - 1`, then the score
        token. Queries are cut to 512 tokens. `batch_size` is accepted for the card's signature and
        ignored: batches are formed by token budget and never change a score."""
        if self._closed:
            raise BackendFailed("this reranker is closed")
        given = given_pairs(pairs)
        inputs = to_inputs(given, query_type, doc_type)
        return card_result(self.pipeline.run(inputs, self.model_name, checked_max_length(max_length)), given)

    def caches(self) -> dict[str, LRUFront[Any]]:
        """The byte-bounded caches by name, for metrics (their fill, bound and entries)."""
        return {"vision": self.vision_cache, "prefix": self.prefix_cache}

    def ping(self) -> bool:
        return not self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.pipeline.close()
            self.vision_cache.clear()
            self.prefix_cache.clear()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()


def _default_name(path_or_id: str) -> str:
    return Path(str(path_or_id).rstrip("/")).name or "jina-reranker-m0"
