"""A small deterministic pair scorer with the `score_pairs` shape of the m0 model, for testing the
batching and serving logic on its own. It can be held (gate) to make batching deterministic."""

from __future__ import annotations

import base64
import binascii
import io
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from reranker.types import Candidate, ImageInput, Query, TextInput


class FakeCandidateError:
    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return self.message


def _image_bytes(image: object) -> bytes:
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


def fake_score(query: Query, candidate: Candidate) -> float:
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

    def __init__(self, hold: bool = False) -> None:
        self.batch_sizes: list[int] = []
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.entered = threading.Event()  # set once a batch is being scored
        self.fail_next = False

    def score_pairs(self, pairs: Sequence[tuple[Query, Candidate]]) -> list[float | FakeCandidateError]:
        self.entered.set()
        self.gate.wait(30)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("device out of memory")
        self.batch_sizes.append(len(pairs))
        out: list[float | FakeCandidateError] = []
        for q, c in pairs:
            problem = next((p for p in (_image_problem(q), _image_problem(c)) if p), None)
            out.append(FakeCandidateError(problem) if problem else fake_score(q, c))
        return out

    def count_tokens(self, pairs: Sequence[tuple[Query, Candidate]]) -> int:
        return 10 * len(pairs)
