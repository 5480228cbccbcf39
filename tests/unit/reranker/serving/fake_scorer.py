"""A small deterministic `Scorer` (the protocol the m0 model and the HTTP backends implement), for
testing the engine and the serving logic on their own. It can be held (gate) to make batching
deterministic, and told to fail its next call. A text "token" is a word: `max_doc_tokens` keeps a
text document's first words, so a cut document scores as its cut text. Like the model's prefix
cache, a document it has scored before is reported as cached."""

from __future__ import annotations

import base64
import binascii
import io
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from reranker.errors import CandidateError
from reranker.types import Candidate, ImageInput, Query, RerankScores, TextInput, WireImage


def _image_bytes(image: object) -> bytes:
    if isinstance(image, WireImage):  # as a server receives it
        image = image.text
    if isinstance(image, str):
        return base64.b64decode(image.split(",", 1)[1] if image.startswith("data:") else image, validate=True)
    if isinstance(image, Path):
        return image.read_bytes()
    if isinstance(image, bytes):
        return image
    raise TypeError(f"unsupported image type {type(image).__name__}")


def _key(item: Query | Candidate) -> str:
    if isinstance(item, ImageInput):
        try:
            return f"image:{zlib.crc32(_image_bytes(item.image))}"
        except (binascii.Error, ValueError, TypeError):
            return "image:undecodable"
    return f"text:{item.text if isinstance(item, TextInput) else item}"


def cut(candidate: Candidate, max_doc_tokens: int | None) -> Candidate:
    """A text document cut to its first `max_doc_tokens` words (images are never cut)."""
    if max_doc_tokens is None or isinstance(candidate, ImageInput):
        return candidate
    text = candidate.text if isinstance(candidate, TextInput) else candidate
    return " ".join(text.split()[:max_doc_tokens])


def fake_score(query: Query, candidate: Candidate, max_doc_tokens: int | None = None) -> float:
    candidate = cut(candidate, max_doc_tokens)
    return (zlib.crc32(f"{_key(query)}|{_key(candidate)}".encode()) % 10_000) / 10_000


def _image_problem(item: Query | Candidate) -> str | None:
    """Images must be real: bytes, or base64 / a data URL of an image file."""
    if not isinstance(item, ImageInput):
        return None
    try:
        Image.open(io.BytesIO(_image_bytes(item.image))).verify()
    except (binascii.Error, ValueError, TypeError, UnidentifiedImageError):
        return "cannot decode the image"
    return None


class FakeScorer:
    model_name = "fake-m0"
    TOKENS_PER_PAIR = 10

    def __init__(self, hold: bool = False, shares_batches: bool = True) -> None:
        self.shares_batches = shares_batches
        self.batch_sizes: list[int] = []
        self.batch_limits: list[int | None] = []  # max_doc_tokens of each call, beside batch_sizes
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.entered = threading.Event()  # set once a call is being scored
        self.fail_next: BaseException | None = None
        self.closed = False
        self._lock = threading.Lock()
        self._seen: set[str] = set()  # documents scored before: "cached"

    def score_pairs(
        self, pairs: Sequence[tuple[Query, Candidate]], max_doc_tokens: int | None = None
    ) -> RerankScores:
        self.entered.set()
        self.gate.wait(30)
        with self._lock:
            failure, self.fail_next = self.fail_next, None
            if failure is None:
                self.batch_sizes.append(len(pairs))
                self.batch_limits.append(max_doc_tokens)
        if failure is not None:
            raise failure
        scores: list[float | CandidateError] = []
        tokens: list[int] = []
        cached: list[bool] = []
        for q, c in pairs:
            problem = next((p for p in (_image_problem(q), _image_problem(c)) if p), None)
            scores.append(CandidateError(problem) if problem else fake_score(q, c, max_doc_tokens))
            tokens.append(0 if problem else self.TOKENS_PER_PAIR)
            with self._lock:
                cached.append(not problem and _key(c) in self._seen)
                if not problem:
                    self._seen.add(_key(c))
        return RerankScores(model=self.model_name, scores=scores, pair_tokens=tokens, cached=cached)

    def ping(self) -> bool:
        return not self.closed

    def close(self) -> None:
        self.closed = True
