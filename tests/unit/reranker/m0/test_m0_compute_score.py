"""The model card's `compute_score`: the same scores as `rerank()` in all four query/document type
combinations and for every image form, the card's single-pair and error behaviour, URLs only when
allowed, and a per-call max_length that truncates as the card does without ever leaking a prefix
truncated for one max_length into a call with another."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from reranker.errors import CandidateError
from reranker.types import ImageInput
from tests.unit.reranker.m0.conftest import png_bytes, serve_folder

TOL = 1e-6
QUERY = "slm markdown"
QUERY_PNG = png_bytes(90, 60, seed=43)
DOC_PNGS = [png_bytes(112, 140, seed=41), png_bytes(84, 84, seed=42), png_bytes(140, 56, seed=44)]
TEXTS = ["SLM markdown converts HTML into clean markdown.", "a second text candidate " * 6, "short"]
PAGE = DOC_PNGS[0]
# About 900 tokens: over the 512-token document budget of max_length=1024, under 2048's.
LONG_DOC = " ".join(
    f"Section {i}: elevation maps, tables and figure {i * 7} of the survey." for i in range(60)
)


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server for PAGE as /page.png."""
    (tmp_path / "page.png").write_bytes(PAGE)
    with serve_folder(tmp_path) as url:
        yield url

def _forms(tmp_path: Path, data: bytes, name: str) -> dict[str, object]:
    """The same image as a str path, a Path, a PIL image and bytes."""
    path = tmp_path / f"{name}.png"
    path.write_bytes(data)
    return {"str": str(path), "path": path, "pil": Image.open(io.BytesIO(data)), "bytes": data}


def _close(got: object, want: list[float]) -> None:
    assert isinstance(got, list) and len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, float) and abs(g - w) <= TOL, (g, w)


def _ranked_scores(m0, query: object, docs: list[object]) -> list[float]:
    """rerank()'s scores put back into the documents' order."""
    out = m0.rerank(query, docs)
    assert all(r.error is None for r in out.results)
    scores = [0.0] * len(docs)
    for r in out.results:
        scores[r.index] = r.relevance_score
    return scores


@pytest.mark.parametrize("query_type", ["text", "image"])
@pytest.mark.parametrize("doc_type", ["text", "image"])
def test_matches_rerank(m0, tmp_path: Path, query_type: str, doc_type: str) -> None:
    forms = ["str", "path", "pil", "bytes"] if "image" in (query_type, doc_type) else ["text"]
    query_forms = _forms(tmp_path, QUERY_PNG, "query")
    doc_forms = [_forms(tmp_path, data, f"doc{i}") for i, data in enumerate(DOC_PNGS)]
    query = QUERY if query_type == "text" else ImageInput(QUERY_PNG)
    docs: list[object] = list(TEXTS) if doc_type == "text" else [ImageInput(d) for d in DOC_PNGS]
    want = _ranked_scores(m0, query, docs)
    for form in forms:
        q = QUERY if query_type == "text" else query_forms[form]
        ds = list(TEXTS) if doc_type == "text" else [f[form] for f in doc_forms]
        got = m0.compute_score(
            [[q, d] for d in ds], max_length=2048, doc_type=doc_type, query_type=query_type
        )
        _close(got, want)


def test_one_pair_is_a_float_as_on_the_card(m0) -> None:
    both = m0.compute_score([[QUERY, TEXTS[0]], [QUERY, TEXTS[1]]])
    single = m0.compute_score([QUERY, TEXTS[0]])
    listed = m0.compute_score([(QUERY, TEXTS[0])])
    assert isinstance(single, float) and isinstance(listed, float)
    assert abs(single - both[0]) <= TOL and abs(listed - both[0]) <= TOL
    assert m0.compute_score([PAGE, QUERY], query_type="image") == pytest.approx(
        m0.score_pairs([(ImageInput(PAGE), QUERY)]).scores[0], abs=TOL
    )
    assert m0.compute_score([]) == []


def test_a_bad_pair_raises_naming_it(m0) -> None:
    with pytest.raises(
        CandidateError, match=r"pair 1 \('q', '   '\) cannot be scored: document text is empty"
    ):
        m0.compute_score([["q", "fine"], ["q", "   "]])
    with pytest.raises(
        CandidateError, match=r"pair 0: the document is <PIL image 4x4>, not text .*doc_type='image'"
    ):
        m0.compute_score([["q", Image.new("RGB", (4, 4))]])
    with pytest.raises(CandidateError, match=r"pair 0 .*<9 bytes>.*not a readable image"):
        m0.compute_score([["q", b"not a png"]], doc_type="image")
    with pytest.raises(ValueError, match="doc_type must be 'text' or 'image'"):
        m0.compute_score([["q", "d"]], doc_type="pdf")
    with pytest.raises(ValueError, match="max_length"):
        m0.compute_score([["q", "d"]], max_length=8)
    with pytest.raises(TypeError, match="pair 0 is not a"):
        m0.compute_score([["q", "d", "extra"]])


def test_url_refused_unless_allowed(m0, tiny_m0_dir: Path, image_server: str) -> None:
    url = f"{image_server}/page.png"
    with pytest.raises(
        CandidateError, match=r"pair 0 \('q', 'http://127\.0\.0\.1:\d+/page\.png'\).*disabled"
    ):
        m0.compute_score([["q", url]], doc_type="image")
    from reranker import M0Reranker

    allowed = M0Reranker.from_pretrained(
        str(tiny_m0_dir),
        device="cpu",
        dtype="fp32",
        max_length=2048,
        allow_urls=True,
        allow_private_urls=True,
    )
    try:
        got = allowed.compute_score([["q", url], ["q", PAGE]], doc_type="image")
    finally:
        allowed.close()
    _close(got, [m0.compute_score(["q", PAGE], doc_type="image")] * 2)


def _doc_tokens(m0, text: str) -> list[int]:
    return list(m0.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_max_length_truncates_a_text_document_as_the_card_does(m0, tiny_m0_dir: Path) -> None:
    ids = _doc_tokens(m0, LONG_DOC)
    assert 512 < len(ids) < 2048 - 512 - 64  # cut at max_length=1024, whole at 2048
    manual = m0.tokenizer.decode(ids[:512])  # tokenised, cut to max_length - 512, decoded back
    cut = m0.compute_score([QUERY, LONG_DOC], max_length=1024)
    whole = m0.compute_score([QUERY, LONG_DOC])
    assert abs(cut - m0.compute_score([QUERY, manual])) <= TOL
    assert abs(cut - whole) > 10 * TOL  # the cut changed the score (well beyond the tolerance)
    assert abs(whole - _ranked_scores(m0, QUERY, [LONG_DOC])[0]) <= TOL

    from tests.unit.reranker.m0.reference import ReferenceM0

    reference = ReferenceM0(tiny_m0_dir, max_length=1024)
    assert cut == pytest.approx(reference.score(QUERY, LONG_DOC), abs=1e-5)
    # A long query too: the document's 512 tokens plus the query's pass max_length - 1, so the pair
    # itself is cut there (the query's end) before the score token.
    long_query = " ".join(f"query term {i}" for i in range(250))
    assert len(_doc_tokens(m0, long_query)) > 512
    assert m0.compute_score([long_query, LONG_DOC], max_length=1024) == pytest.approx(
        reference.score(long_query, LONG_DOC), abs=1e-5
    )


def test_per_call_max_length_never_leaks_through_the_caches(tiny_m0_dir: Path) -> None:
    from reranker import M0Reranker

    def load(**kw: int) -> M0Reranker:
        return M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", dtype="fp32", max_length=2048, **kw)

    pairs = [[QUERY, LONG_DOC], [QUERY, TEXTS[0]]]
    # Never sees a small max_length, and caches nothing.
    plain = load(prefix_cache_mb=0, vision_cache_mb=0)
    want_default = plain.compute_score(pairs)
    manual = plain.tokenizer.decode(_doc_tokens(plain, LONG_DOC)[:512])
    want_small = plain.compute_score([[QUERY, manual], [QUERY, TEXTS[0]]])
    plain.close()
    model = load()
    try:
        for _ in range(2):  # cold, then with every cache warm from both truncations
            _close(model.compute_score(pairs, max_length=1024), want_small)
            _close(model.compute_score(pairs), want_default)
            _close(model.score_pairs([(q, d) for q, d in pairs]).scores, want_default)
        assert model.prefix_cache.hits > 0  # the second round ran on cached prefixes
    finally:
        model.close()


def test_image_document_with_a_prefix_cached_for_another_max_length(m0) -> None:
    pairs = [[QUERY, d] for d in DOC_PNGS]
    m0.prefix_cache.clear()
    m0.vision_cache.clear()
    default = m0.compute_score(pairs, doc_type="image")
    # Only the prefixes of max_length=2048 are cached: the pages must be decoded again for 1024.
    m0.vision_cache.clear()
    _close(m0.compute_score(pairs, max_length=1024, doc_type="image"), default)
    _close(m0.compute_score(pairs, doc_type="image"), default)


def test_concurrent_preparation_never_cuts_a_prompt(m0) -> None:
    """Worker threads truncating texts while others encode whole prompts: every prompt keeps its
    length (the tokenizer's truncation setting is per call, never another thread's)."""
    prep = m0.preparer
    long_query = " ".join(f"query term {i}" for i in range(250))
    query, doc = prep.prepare_side(QUERY, "query"), prep.prepare_side(LONG_DOC, "document")
    want = prep.encode(0, query, doc, with_prefix=False).encoded.input_ids
    assert len(want) > 600
    wrong: list[int] = []

    def truncate() -> None:
        for _ in range(150):
            prep.prepare_side(long_query, "query")  # cut to 512 tokens on every call

    def encode() -> None:
        for _ in range(150):
            if (ids := prep.encode(0, query, doc, with_prefix=False).encoded.input_ids) != want:
                wrong.append(len(ids))

    threads = [threading.Thread(target=f) for f in (truncate, encode, truncate, encode)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
