"""The document key/value prefix cache never changes a score: a second query over the same
candidates (only its own tokens run through the language model) scores exactly like the plain
one-pair-at-a-time computation, for text and image documents and text and image queries, in
batches mixing cached and new prefixes of different lengths, across eviction, and where the
tokeniser merges across the document/query boundary."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from reranker.m0.prompts import DOC_PREFIX
from reranker.types import ImageInput
from tests.unit.reranker.m0.conftest import png_bytes

TOL = 1e-5
DOC_PNGS = [png_bytes(150, 210, seed=31), png_bytes(84, 140, seed=32), png_bytes(220, 70, seed=33)]
TEXTS = ["SLM markdown converts HTML into clean markdown.", "a second, much longer text candidate " * 12,
         "ends with spaces and a newline   \n", "short"]
QUERY_PNG = png_bytes(90, 60, seed=34)


def _docs() -> list[object]:
    return [*TEXTS[:2], ImageInput(DOC_PNGS[0]), TEXTS[2], ImageInput(DOC_PNGS[1]), TEXTS[3], ImageInput(DOC_PNGS[2])]


def _plain(value: object) -> object:
    return Image.open(io.BytesIO(value.image)) if isinstance(value, ImageInput) else value


@pytest.fixture(scope="module")
def reference(tiny_m0_dir: Path):
    from tests.unit.reranker.m0.reference import ReferenceM0

    return ReferenceM0(tiny_m0_dir, max_length=2048)


@pytest.fixture(scope="module")
def uncached(tiny_m0_dir: Path):
    from reranker.m0.reranker import M0Reranker

    r = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", max_length=2048, prefix_cache_mb=0,
                                   vision_cache_mb=0, workers=1)
    yield r
    r.close()


def _close(a: list[object], b: list[object]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert isinstance(x, float) and isinstance(y, float)
        assert abs(x - y) <= TOL, (x, y)


@pytest.mark.parametrize("query_kind", ["text", "image"])
def test_warm_prefixes_score_like_no_cache(m0, uncached, reference, query_kind: str) -> None:
    m0.prefix_cache.clear()
    m0.vision_cache.clear()
    warmup = "a first query that fills the cache"
    m0.score_pairs([(warmup, d) for d in _docs()])
    assert len(m0.prefix_cache) == len(_docs())
    m0.vision_cache.clear()  # the pages must now come from the prefix cache, not the vision tower
    query = "slm markdown" if query_kind == "text" else ImageInput(QUERY_PNG)
    hits = m0.prefix_cache.hits
    warm = m0.score_pairs([(query, d) for d in _docs()]).scores
    assert m0.prefix_cache.hits - hits == len(_docs())
    # No page was decoded or encoded again: only the image query (if any) went through the vision tower.
    assert len(m0.vision_cache) == (1 if query_kind == "image" else 0)
    _close(warm, uncached.score_pairs([(query, d) for d in _docs()]).scores)
    plain_query = _plain(query)
    for doc, got in zip(_docs()[:3], warm[:3], strict=True):  # and against the independent computation
        assert abs(got - reference.score(plain_query, _plain(doc))) <= TOL


def test_batch_mixing_cached_and_new_prefixes(m0, uncached) -> None:
    m0.prefix_cache.clear()
    docs = _docs()
    m0.score_pairs([("warm some", d) for d in docs[::2]])  # every other prefix cached
    pairs = [("slm markdown", d) for d in docs] + [(ImageInput(QUERY_PNG), d) for d in docs[1::2]]
    _close(m0.score_pairs(pairs).scores, uncached.score_pairs(pairs).scores)


def test_eviction_keeps_scores_and_bound(tiny_m0_dir: Path, uncached) -> None:
    from reranker.m0.reranker import M0Reranker

    r = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", max_length=2048, workers=1)
    try:
        r.prefix_cache.max_bytes = 60_000  # room for a few prefixes only
        pairs = [(q, d) for q in ("one query", "another query", ImageInput(QUERY_PNG)) for d in _docs()]
        for _ in range(2):
            _close(r.score_pairs(pairs).scores, uncached.score_pairs(pairs).scores)
            assert 0 < r.prefix_cache.nbytes <= r.prefix_cache.max_bytes
            assert len(r.prefix_cache) < len(_docs())
    finally:
        r.close()


def test_page_prepared_from_cache_then_evicted_is_prepared_again(m0, uncached) -> None:
    m0.prefix_cache.clear()
    m0.vision_cache.clear()
    page = ImageInput(DOC_PNGS[0])
    m0.score_pairs([("fill", page)])
    m0.vision_cache.clear()
    side = m0.preparer.prepare_side(page, "document")
    assert side.image is not None and side.image.pixel_values is None  # known from the prefix cache only
    m0.prefix_cache.clear()  # evicted before the pair is encoded
    query = m0.preparer.prepare_side("slm markdown", "query")
    pair = m0.preparer.encode(0, query, side)
    assert pair.prefix is None and pair.images[0].pixel_values is not None
    _close(m0.score_pairs([("slm markdown", page)]).scores, uncached.score_pairs([("slm markdown", page)]).scores)


def test_prefix_is_exactly_the_prompts_leading_ids(m0) -> None:
    tok = m0.tokenizer
    query = m0.preparer.prepare_side("q", "query")
    for text in TEXTS:
        pair = m0.preparer.encode(0, query, m0.preparer.prepare_side(text, "document"))
        doc_ids = tok(DOC_PREFIX + text, add_special_tokens=False)["input_ids"]
        assert pair.encoded is not None and 0 < pair.prefix_len < len(pair.encoded)
        assert pair.encoded.input_ids[: pair.prefix_len] == doc_ids[: pair.prefix_len]
    # A document ending in spaces: the spaces merge with the query's newline, so they stay out of the prefix.
    pair = m0.preparer.encode(0, query, m0.preparer.prepare_side(TEXTS[2], "document"))
    assert pair.prefix_len < len(tok(DOC_PREFIX + TEXTS[2], add_special_tokens=False)["input_ids"])


def test_prefix_cache_off(uncached) -> None:
    assert not uncached.prefix_cache.enabled
    uncached.score_pairs([("q", d) for d in _docs()])
    assert len(uncached.prefix_cache) == 0
    pair = uncached.preparer.encode(0, uncached.preparer.prepare_side("q", "query"),
                                    uncached.preparer.prepare_side("doc", "document"))
    assert pair.prefix_len == 0 and pair.prefix_key is None


def test_each_pair_says_whether_its_document_prefix_was_reused(m0) -> None:
    m0.prefix_cache.clear()
    docs = _docs()
    m0.score_pairs([("warm some", d) for d in docs[::2]])
    out = m0.score_pairs([("slm markdown", d) for d in docs])
    assert out.cached == [i % 2 == 0 for i in range(len(docs))] and out.cache_hits == len(docs[::2])
    # A new document reached by two queries in one call: one pair computes its prefix, the other reuses it.
    fresh = "a document no query has reached yet, long enough to have a prefix"
    twice = m0.score_pairs([("one query", fresh), ("another query", fresh)])
    assert sorted(twice.cached or []) == [False, True]
