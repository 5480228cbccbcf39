"""A text is cut by characters before it is tokenised, and the cut never changes what is scored:
on ordinary and hostile texts the truncation equals tokenising the whole text (the reference's
way), and the characters read follow the token limit, not the text's length."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from reranker.m0.loading import load_tokenizer
from reranker.m0.prompts import max_token_chars, truncate_text

WORDS = [
    "library", "système", "图书馆", "北京大学", "1,000.5", "don't", "   ", "\n\n", "a" * 42, "------",
    "e\u0301", "\u1100\u1161\u11a8", "🙂", "x", "Ölgemälde", "naïve", "\t",
]  # fmt: skip


def _texts() -> list[str]:
    rng = random.Random(7)
    mixed = [" ".join(rng.choice(WORDS) for _ in range(n)) for n in (10, 300, 3000, 20000)]
    hostile = [
        "a" * 100_000,  # one word, as long as it gets
        " " * 100_000,  # whitespace the vocabulary merges 128 at a time
        "-" * 50_000 + "b",
        "\u1100\u1161\u11a8" * 30_000,  # Hangul jamo, which a normaliser could compose
        "e\u0301" * 50_000,  # combining marks
        "🙂" * 30_000,  # 4 bytes a character
        "图" * 40_000,
    ]
    return mixed + hostile


@pytest.fixture(scope="module")
def tokenizer(tiny_m0_dir: Path) -> Any:
    return load_tokenizer(tiny_m0_dir)


def _whole(tokenizer: Any, text: str, limit: int) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return str(tokenizer.decode(ids[:limit])) if len(ids) >= limit else text


def test_the_bound_is_the_longest_token(tokenizer: Any) -> None:
    # Qwen2's byte-level vocabulary: its longest entry is a run of 128 spaces.
    assert max_token_chars(tokenizer) == 128


@pytest.mark.parametrize("limit", [1, 7, 64, 512, 2000])
def test_cut_equals_tokenising_the_whole_text(tokenizer: Any, limit: int) -> None:
    chars = max_token_chars(tokenizer)
    for text in _texts():
        assert truncate_text(tokenizer, text, limit, chars) == _whole(tokenizer, text, limit), text[:40]


class _Counting:
    """The tokenizer, counting the characters it is given."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.read = 0

    def __call__(self, text: str, **kw: Any) -> Any:
        self.read += len(text)
        return self.tokenizer(text, **kw)

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids))


@pytest.mark.parametrize("unit", ["word ", "  ", "图", "-"])
def test_characters_read_follow_the_limit_not_the_text(tokenizer: Any, unit: str) -> None:
    counting = _Counting(tokenizer)
    chars = max_token_chars(tokenizer)
    huge = unit * (20_000_000 // len(unit))  # 20 M characters
    cut = truncate_text(counting, huge, 100, chars)
    assert len(tokenizer(cut, add_special_tokens=False)["input_ids"]) <= 100
    # Never more than the widest cut and the narrower ones before it: far below the text.
    assert counting.read <= 2 * (100 + 64) * chars < len(huge) // 100
