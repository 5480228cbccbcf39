"""The Jina rerank contract: what requests parse to, and what responses look like on the wire."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from pydantic import ValidationError

from reranker.dialects.jina import (
    ImageDoc,
    RerankRequest,
    RerankResponse,
    TextDoc,
    build_request_payload,
    image_to_wire,
    response_from_scores,
    scores_from_response,
    to_item,
)
from reranker.errors import CandidateError
from reranker.types import ImageInput, RerankScores, TextInput, WireImage


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, format="PNG")
    return buf.getvalue()


def test_request_accepts_strings_objects_and_image_query() -> None:
    req = RerankRequest.model_validate(
        {
            "model": "jina-reranker-m0",
            "query": {"image": "https://example.org/q.png"},
            "documents": ["plain", {"text": "boxed"}, {"image": "aGVsbG8="}],
            "top_n": 2,
            "return_documents": False,
        }
    )
    assert [to_item(d) for d in req.documents] == ["plain", TextInput("boxed"), ImageInput(WireImage("aGVsbG8="))]
    assert to_item(req.query) == ImageInput(WireImage("https://example.org/q.png"))
    assert req.top_n == 2 and req.return_documents is False


def test_request_defaults_follow_jina() -> None:
    req = RerankRequest.model_validate({"query": "q", "documents": ["a"], "truncation": True})
    assert req.model is None and req.top_n is None
    assert req.return_documents is True  # Jina returns documents unless asked not to


@pytest.mark.parametrize(
    "body",
    [
        {"query": "q", "documents": []},  # empty list
        {"query": "q"},  # documents missing
        {"query": "q", "documents": "not a list"},
        {"query": "q", "documents": [3]},  # wrong item type
        {"query": "q", "documents": [{"video": "x"}]},  # unknown object shape
        {"query": "q", "documents": [{"image": ""}]},  # empty image
        {"query": 5, "documents": ["a"]},
        {"query": "q", "documents": ["a"], "top_n": 0},
    ],
)
def test_request_rejects_bad_shapes(body: dict) -> None:
    with pytest.raises(ValidationError):
        RerankRequest.model_validate(body)


def test_response_ranks_cuts_and_echoes_documents() -> None:
    docs = ["a", TextDoc(text="b"), ImageDoc(image="aW1n")]
    resp = response_from_scores("m", docs, RerankScores("m", [0.2, 0.9, 0.5], total_tokens=7), top_n=2, return_documents=True)
    wire = resp.model_dump(exclude_none=True)
    assert wire == {
        "model": "m",
        "usage": {"total_tokens": 7},
        "results": [
            {"index": 1, "relevance_score": 0.9, "document": {"text": "b"}},
            {"index": 2, "relevance_score": 0.5, "document": {"image": "aW1n"}},
        ],
    }
    bare = response_from_scores("m", docs, RerankScores("m", [0.5, 0.5, 0.1]), top_n=None, return_documents=False)
    # ties keep the given order; no document key at all when not asked for
    assert [r["index"] for r in bare.model_dump(exclude_none=True)["results"]] == [0, 1, 2]
    assert "document" not in bare.model_dump(exclude_none=True)["results"][0]


def test_payload_encodes_local_images_as_base64(tmp_path) -> None:
    png = _png()
    path = tmp_path / "page.png"
    path.write_bytes(png)
    payload = build_request_payload(
        "q",
        ["t", TextInput("u"), ImageInput(path), ImageInput(png), ImageInput(str(path)), ImageInput("https://x/y.png")],
        model="jina-reranker-m0",
        top_n=3,
        return_documents=False,
    )
    docs = payload["documents"]
    assert docs[:2] == ["t", {"text": "u"}]
    assert base64.b64decode(docs[2]["image"]) == png
    assert base64.b64decode(docs[3]["image"]) == png
    assert base64.b64decode(docs[4]["image"]) == png
    assert docs[5] == {"image": "https://x/y.png"}
    assert payload["model"] == "jina-reranker-m0" and payload["top_n"] == 3
    pil = Image.open(io.BytesIO(png))
    assert Image.open(io.BytesIO(base64.b64decode(image_to_wire(pil)))).size == (4, 4)
    assert image_to_wire(WireImage("aGVsbG8=")) == "aGVsbG8="  # a received image is passed on as it came
    with pytest.raises(TypeError):
        image_to_wire(12)


def test_response_scores_come_back_in_the_order_sent() -> None:
    resp = RerankResponse.model_validate(
        {"model": "m", "usage": {"total_tokens": 3}, "results": [{"index": 1, "relevance_score": 0.8},
                                                                 {"index": 0, "relevance_score": 0.1}]}
    )  # fmt: skip
    scored = scores_from_response(resp, 3)
    assert scored.scores[:2] == [0.1, 0.8] and scored.total_tokens == 3 and scored.model == "m"
    assert isinstance(scored.scores[2], CandidateError)  # the server left it out
    bad = RerankResponse.model_validate({"model": "m", "results": [{"index": 5, "relevance_score": 0.1}]})
    with pytest.raises(ValueError, match="out of range"):
        scores_from_response(bad, 2)


def test_truncation_fields_give_one_document_cap() -> None:
    def cap(**fields: object) -> int | None:
        return RerankRequest.model_validate({"query": "q", "documents": ["a"], **fields}).doc_token_cap()

    assert cap() is None and cap(truncation=True) is None and cap(truncation=False) is None
    assert cap(max_tokens_per_doc=300) == 300
    assert cap(truncate_prompt_tokens=-1) is None and cap(truncate_prompt_tokens=200) == 200  # vLLM's name
    assert cap(max_tokens_per_doc=300, truncate_prompt_tokens=200) == 200  # the tightest
    for bad in ({"max_tokens_per_doc": 0}, {"truncate_prompt_tokens": -2}):
        with pytest.raises(ValidationError):
            cap(**bad)


def test_vllm_content_documents_parse_to_candidates_and_echo_as_jina_documents() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8=", "detail": "auto"}}
    text = {"type": "text", "text": "boxed"}
    bare = RerankRequest.model_validate({"query": {"content": [text]}, "documents": {"content": [image, text]}})
    listed = RerankRequest.model_validate({"query": "q", "documents": [{"content": [image]}, "plain"]})
    assert to_item(bare.query) == TextInput("boxed")
    assert [to_item(d) for d in bare.documents] == [
        ImageInput(WireImage("data:image/png;base64,aGVsbG8=")), TextInput("boxed")
    ]
    assert [to_item(d) for d in listed.documents][1] == "plain"
    resp = response_from_scores("m", bare.documents, RerankScores("m", [0.1, 0.9]), top_n=None, return_documents=True)
    assert [r.document for r in resp.results] == [TextDoc(text="boxed"), ImageDoc(image="data:image/png;base64,aGVsbG8=")]
    two_parts = RerankRequest.model_validate({"query": "q", "documents": [{"content": [image, text]}]})
    with pytest.raises(CandidateError, match="2 content parts"):
        to_item(two_parts.documents[0])
    with pytest.raises(ValidationError):  # a part of a kind m0 cannot score
        RerankRequest.model_validate({"query": "q", "documents": [{"content": [{"type": "video_url", "video_url": {"url": "x"}}]}]})


def test_payload_passes_the_document_cap_on() -> None:
    payload = build_request_payload("q", ["a"], model=None, top_n=None, return_documents=False, max_tokens_per_doc=64)
    assert payload["max_tokens_per_doc"] == 64
    assert "max_tokens_per_doc" not in build_request_payload("q", ["a"], model=None, top_n=None, return_documents=False)
