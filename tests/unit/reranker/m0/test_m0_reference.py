"""The local reranker against an independent, plain one-pair-at-a-time computation: prompt text,
placeholder expansion, token 100, the score head and the -2.65 bias, in all four combinations."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from reranker.m0.prompts import SCORE_TOKEN_ID, encode_pair, format_prompt, left_pad
from reranker.types import ImageInput
from tests.unit.reranker.m0.conftest import png_bytes

QUERY = "slm markdown"
DOC = "SLM markdown converts HTML into clean markdown with a small language model."


@pytest.fixture(scope="module")
def reference(tiny_m0_dir: Path):
    from tests.unit.reranker.m0.reference import ReferenceM0

    return ReferenceM0(tiny_m0_dir, max_length=2048)


def _pil(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_prompt_text_and_token_layout(m0) -> None:
    assert format_prompt("q", "d") == "**Document**:\nd\n**Query**:\nq"
    assert format_prompt(None, "d") == "**Document**:\nd\n**Query**:\n<|vision_start|><|image_pad|><|vision_end|>"
    tok = m0.tokenizer
    pair = encode_pair(tok, format_prompt("q", None), [6], ["k"], 151655, 2048)
    plain = tok("**Document**:\n<|vision_start|>", add_special_tokens=False)["input_ids"]
    assert pair.input_ids[: len(plain)] == plain
    assert pair.input_ids.count(151655) == 6  # one pad per merged patch
    assert pair.input_ids[-1] == SCORE_TOKEN_ID
    short = encode_pair(tok, format_prompt("q", "d"), [], [], 151655, 2048)
    ids, mask = left_pad([pair, short], pad_id=151643)
    assert ids[1][: len(pair) - len(short)] == [151643] * (len(pair) - len(short))  # padding on the left
    assert mask[1] == [0] * (len(pair) - len(short)) + [1] * len(short)
    assert ids[0][-1] == ids[1][-1] == SCORE_TOKEN_ID


def test_truncation_keeps_score_token(m0) -> None:
    pair = encode_pair(m0.tokenizer, format_prompt("q", "word " * 400), [], [], 151655, 64)
    assert len(pair) == 64 and pair.input_ids[-1] == SCORE_TOKEN_ID


@pytest.mark.parametrize("combo", ["text-text", "text-image", "image-text", "image-image"])
def test_matches_reference(m0, reference, combo: str) -> None:
    doc_png, query_png = png_bytes(150, 210, seed=1), png_bytes(90, 60, seed=2)
    q_kind, d_kind = combo.split("-")
    query = QUERY if q_kind == "text" else ImageInput(query_png)
    doc = DOC if d_kind == "text" else ImageInput(doc_png)
    got = m0.score_pairs([(query, doc)]).scores[0]
    want = reference.score(QUERY if q_kind == "text" else _pil(query_png), DOC if d_kind == "text" else _pil(doc_png))
    assert isinstance(got, float)
    assert abs(got - want) <= 1e-5, (got, want)


def test_long_texts_truncated_like_reference(m0, reference) -> None:
    long_doc = " ".join(f"paragraph {i} about markdown conversion" for i in range(600))  # > 1536 tokens
    long_query = " ".join(f"term{i}" for i in range(400))  # > 512 tokens
    got = m0.score_pairs([(long_query, long_doc)]).scores[0]
    assert abs(got - reference.score(long_query, long_doc)) <= 1e-5


def test_scores_follow_the_head_not_a_constant(m0) -> None:
    scores = m0.score_pairs([(QUERY, DOC), (QUERY, "unrelated words entirely"), ("other query", DOC)]).scores
    assert len({round(s, 6) for s in scores}) == 3
    assert all(0.0 < s < 1.0 for s in scores)
