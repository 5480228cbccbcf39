"""Pre-processing of one (query, candidate) pair: text cleaning and truncation, image reading,
decoding and Qwen2-VL preprocessing (skipped when the page's vision features are cached), and
prompt encoding. Runs on worker threads; failures are CandidateErrors for that pair only."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cachetools
from PIL import Image

from reranker.errors import CandidateError
from reranker.images import ImageLimits, decode_image, read_image
from reranker.m0.prefix import PrefixCache, PrefixKV, common_length, prefix_key
from reranker.m0.prompts import (
    DOC_PREFIX,
    IMAGE_SLOT,
    MAX_QUERY_TOKENS,
    EncodedPair,
    clean_text,
    encode_pair,
    expand_images,
    format_prompt,
    max_doc_tokens,
    max_token_chars,
    truncate_text,
)
from reranker.m0.vision import ImagePreprocessor, PreparedImage, VisionCache
from reranker.types import ImageInput, TextInput


class _Memo:
    """A small thread-safe LRU for per-document tokenisation: a candidate reached by many queries is
    truncated and tokenised once (a miss computes outside the lock). Keys hold digests, never the
    texts themselves, and the values are bounded in bytes, so the memo's memory follows its bound,
    not the size of the documents that pass through it."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self._items: cachetools.LRUCache[Any, Any] = cachetools.LRUCache(maxsize=max_bytes, getsizeof=_size_of)
        self._lock = threading.Lock()

    def get_or(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                return self._items[key]  # a read refreshes the key's place
        value = make()
        if _size_of(value) <= self._items.maxsize:
            with self._lock:
                self._items[key] = value
        return value


def _size_of(value: Any) -> int:
    # Roughly what the value holds: a str's characters (up to 4 bytes each), a list's items.
    if isinstance(value, str):
        return 64 + 4 * len(value)
    if isinstance(value, list):
        return 64 + 36 * len(value)
    return 64


def _digest(text: str, chunk: int = 1 << 20) -> bytes:
    # In slices, so a long text is never copied whole into bytes.
    digest = hashlib.blake2b(digest_size=16)
    for at in range(0, len(text), chunk):
        digest.update(text[at : at + chunk].encode("utf-8", "surrogatepass"))
    return digest.digest()


@dataclass
class Side:
    """A query or document after pre-processing: text, or a prepared image."""

    text: str | None = None
    image: PreparedImage | None = None


@dataclass
class PreparedPair:
    index: int
    encoded: EncodedPair | None = None
    images: list[PreparedImage] = field(default_factory=list)
    error: CandidateError | None = None
    prefix_len: int = 0  # leading tokens that depend on the document only (0: no prefix split)
    prefix_key: str | None = None
    prefix: PrefixKV | None = None  # cached keys/values of those tokens, held so eviction cannot race
    prefix_reused: bool = False  # set by the runner: only the query's tokens ran, after that prefix

    @property
    def length(self) -> int:
        return len(self.encoded) if self.encoded is not None else 0


def as_input(value: Any) -> TextInput | ImageInput:
    if isinstance(value, str):
        return TextInput(value)
    if isinstance(value, TextInput | ImageInput):
        return value
    if isinstance(value, Image.Image | bytes):
        return ImageInput(value)
    raise CandidateError(
        f"unsupported input of type {type(value).__name__} (use str, TextInput or ImageInput)"
    )


class Preparer:
    def __init__(
        self,
        tokenizer: Any,
        preprocessor: ImagePreprocessor,
        cache: VisionCache,
        limits: ImageLimits,
        max_length: int,
        image_token_id: int,
        prefix_cache: PrefixCache | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.preprocessor = preprocessor
        self.cache = cache
        self.limits = limits
        self.max_length = max_length
        self.image_token_id = image_token_id
        self.prefix_cache = prefix_cache
        self._memo = _Memo()
        self._token_chars = max_token_chars(tokenizer)

    def prepare_image(self, source: Any, document: bool = False) -> PreparedImage:
        key, payload = read_image(source, self.limits)
        features = self.cache.get(key)
        grid = self.cache.grid(key)
        if features is not None and grid is not None:
            return PreparedImage(key=key, grid_thw=grid, pixel_values=None, features=features)
        if document and self.prefix_cache is not None and (grid := self.prefix_cache.grid(key)) is not None:
            # The page's keys/values are cached: no decoding, no vision tower (unless evicted meanwhile).
            return PreparedImage(key=key, grid_thw=grid, pixel_values=None, source=source)
        image = payload if isinstance(payload, Image.Image) else decode_image(payload, self.limits)
        pixels, grid = self.preprocessor(image)
        return PreparedImage(key=key, grid_thw=grid, pixel_values=pixels)

    def prepare_side(
        self, value: Any, what: str, max_length: int | None = None, doc_tokens: int | None = None
    ) -> Side:
        """`max_length`: this call's truncation (None: the configured one); `doc_tokens`: this
        call's cap on a text document's tokens, below the one `max_length` gives. Only a text
        document's cut depends on them (an image is scored whole)."""
        item = as_input(value)
        if isinstance(item, ImageInput):
            return Side(image=self.prepare_image(item.image, document=what == "document"))
        text = clean_text(item.text, what)
        if what == "query":
            return Side(text=truncate_text(self.tokenizer, text, MAX_QUERY_TOKENS, self._token_chars))
        limit = max_doc_tokens(max_length or self.max_length)
        if doc_tokens is not None:
            limit = min(limit, doc_tokens)
        return Side(
            text=self._memo.get_or(
                ("cut", _digest(text), limit),
                lambda: truncate_text(self.tokenizer, text, limit, self._token_chars),
            )
        )

    def encode(
        self, index: int, query: Side, doc: Side, with_prefix: bool = True, max_length: int | None = None
    ) -> PreparedPair:
        max_length = max_length or self.max_length
        # Images go in placeholder order: the document's before the query's.
        images = [s.image for s in (doc, query) if s.image is not None]
        encoded = encode_pair(
            self.tokenizer,
            format_prompt(query.text, doc.text),
            [self.preprocessor.tokens(im.grid_thw) for im in images],
            [im.key for im in images],
            self.image_token_id,
            max_length,
        )
        pair = PreparedPair(index=index, encoded=encoded, images=images)
        if with_prefix and self.prefix_cache is not None and self.prefix_cache.enabled:
            self._find_prefix(pair, doc, max_length)
        page = doc.image
        if (
            page is not None
            and page.source is not None
            and page.pixel_values is None
            and page.features is None
        ):
            if pair.prefix is None:  # its cached prefix was evicted since preparation: prepare the page
                page = images[0] = doc.image = self.prepare_image(page.source)
                if page.pixel_values is None and page.features is None:
                    raise RuntimeError(f"image {page.key} could not be prepared again")
        return pair

    def _find_prefix(self, pair: PreparedPair, doc: Side, max_length: int) -> None:
        """The prompt's document-only prefix: its length, cache key and cached keys/values if any.
        The key holds the prefix's own token ids (so a document cut differently never shares it)
        and `max_length` as well."""
        assert pair.encoded is not None and self.prefix_cache is not None
        if doc.image is not None:
            slot = self._memo.get_or(
                ("slot",),
                lambda: self.tokenizer(DOC_PREFIX + IMAGE_SLOT, add_special_tokens=False)["input_ids"],
            )
            doc_ids = expand_images(slot, [self.preprocessor.tokens(doc.image.grid_thw)], self.image_token_id)
        else:
            text = doc.text or ""
            doc_ids = self._memo.get_or(
                ("ids", _digest(text)),
                lambda: self.tokenizer(DOC_PREFIX + text, add_special_tokens=False)["input_ids"],
            )
        full = pair.encoded.input_ids
        n = min(common_length(full, doc_ids), len(full) - 1)  # the score token always runs
        if n <= 0:
            return
        pair.prefix_len = n
        pair.prefix_key = prefix_key(full[:n], doc.image.key if doc.image is not None else None, max_length)
        pair.prefix = self.prefix_cache.get(pair.prefix_key)

    def prepare_pair(
        self,
        index: int,
        query: Side | CandidateError,
        candidate: Any,
        max_length: int | None = None,
        doc_tokens: int | None = None,
    ) -> PreparedPair:
        if isinstance(query, CandidateError):
            return PreparedPair(index=index, error=CandidateError(f"query: {query}"))
        try:
            doc = self.prepare_side(candidate, "document", max_length, doc_tokens)
            return self.encode(index, query, doc, max_length=max_length)
        except CandidateError as exc:
            return PreparedPair(index=index, error=exc)
