"""A small deterministic pair scorer with the `score_pairs` shape of the m0 model, for testing the
batching and serving logic on its own. It can be held (gate) to make batching deterministic."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence

from reranker.types import Candidate, ImageInput, Query, TextInput


class FakeCandidateError:
    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return self.message


def _key(item: Query | Candidate) -> str:
    if isinstance(item, ImageInput):
        return f"image:{item.image!r}"
    return f"text:{item.text if isinstance(item, TextInput) else item}"


def fake_score(query: Query, candidate: Candidate) -> float:
    return (zlib.crc32(f"{_key(query)}|{_key(candidate)}".encode()) % 10_000) / 10_000


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
            if isinstance(c, ImageInput) and c.image == "not-an-image":
                out.append(FakeCandidateError("cannot decode the image"))
            else:
                out.append(fake_score(q, c))
        return out

    def count_tokens(self, pairs: Sequence[tuple[Query, Candidate]]) -> int:
        return 10 * len(pairs)
