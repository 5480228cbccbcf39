"""Pure request builders for the OpenSearch store: index settings, mappings and query bodies.

Nothing here does I/O, so every body can be unit-tested and read as plain data.

Analysis (one analyzer for every language, since a collection mixes them and a page's language
guess is not always right). Only analyzers from the modules a stock node ships are used
(analysis-common; the ICU plugin is not assumed):

- ``folio_text`` (title, text): a char filter that expands typographic ligatures (PDF text
  extraction yields "ﬁ" for "fi"), one that puts a space where Unicode word breaking would join
  two words or numbers ("library's", "U.S.", "1.5"; docstore.analysis splits there, so both stores
  hold the same words), the ``standard`` tokenizer (Unicode word boundaries: Latin,
  Cyrillic, Greek, Arabic, Hebrew… become words; Han and Hiragana become single characters),
  ``cjk_width`` (full-width Latin / half-width Katakana to their normal forms), ``lowercase``,
  and ``cjk_bigram``, which turns runs of Han/Hiragana/Katakana/Hangul into overlapping bigrams.
  Bigrams are the classic dictionary-free way to search Chinese, Japanese and Korean: "图书馆"
  is found as 图书 + 书馆 in "北京大学图书馆", with no per-language tokenizer to pick. No stop
  words, so "AND", "not", "the" stay searchable as words.
- ``content_stem``: the page's stemmed field, made by docstore.analysis from the page's language
  (Snowball stemming, stop words left out) and indexed as whitespace-separated terms, so both
  stores search the same stems. Title and text are copied into ``content``; BM25 sums
  ``content`` over the query's exact words and ``content_stem`` (weighted by
  ``analysis.STEM_WEIGHT``) over its stems, so exact forms outrank stems. The title is not
  searched alone: its own short field gives a title match a score out of proportion (on CISI it
  cost a tenth of nDCG@10). Indices from
  before the stemmed field get it mapped on their next write (``content_en``, their English
  field, is no longer searched); their pages have stems once re-indexed.

Scoring: the pages index scores text with ``folio_bm25`` (its default similarity), BM25 as SQLite's
FTS5 computes it (k1 1.2, b 0.75, IDF ``ln((N - n + 0.5) / (n + 0.5))``, at least 1e-6), so both
stores rank alike. Lucene's own BM25 adds 1 inside that logarithm, which leaves a word found in
a large share of the pages much of its weight; on CISI's long questions those words cost hybrid
recall (BENCHMARKS.md, "First-stage relevance"). Indices from before it keep Lucene's BM25 until
re-indexed under a new prefix or switched in place (docs/operations.md).

Vectors: ``knn_vector`` with the HNSW method on the **lucene** engine and cosine similarity.
The Lucene engine supports efficient filtering inside the kNN search, and needs no native
library (the faiss/nmslib engines do; a node without them fails at the first write).
The vector is left out of the stored ``_source`` (mapping ``_source.excludes``): as a JSON
array it was the bulk of every page's source, and filtering it out per hit cost every search
time on the node, while returning it cost the client more. The exact vector is
kept beside the text as ``embedding_f32`` (base64 of little-endian float32, not indexed), a
quarter of the JSON's size, so searches fetch the whole source unfiltered and `get_page`
still returns the embedding. Indices created before this keep the vector in ``_source``;
the store reads both.

Page references: every page carries ``rerank_ref`` (keyword, in ``_source``), its
``folio-page:<page_id>`` reference, so that a search pipeline's ``rerank`` processor, which sends
documents as strings taken from ``_source``, can send it to a rerank server opened on this store
(``folio rerank-server --store``), which scores the page's image. Indices from before the field get
it mapped on their next write; their existing pages get it from the one-off ``_update_by_query``
of ``REF_BACKFILL`` (the README shows it).

Word boxes (``Page.word_boxes``, where the text's words are on the page image) live in the images
index beside the image they describe (``binary``: base64 in ``_source``, not indexed), read by
page id like the image and never by a search: in the pages index every hit would carry them, and
an existing index's ``_source`` excludes cannot be changed to leave them out. Images indices from
before the field get it mapped on their next write of a page with word boxes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from docstore import analysis
from docstore.analysis import query_terms
from docstore.candidates import PAGE_REF_PREFIX
from docstore.schema import Filters

SPACE_TYPE = "cosinesimil"

VECTOR_COPY = "embedding_f32"  # the stored copy of the vector (see the module docstring)
STEM_FIELD = "content_stem"  # the stemmed field (see the module docstring)
REF_FIELD = "rerank_ref"  # the page's reference for a rerank server (see the module docstring)
WORD_BOXES_FIELD = "word_boxes"  # Page.word_boxes, in the images index (see the module docstring)

LIGATURES = ["ﬀ => ff", "ﬁ => fi", "ﬂ => fl", "ﬃ => ffi", "ﬄ => ffl", "ﬅ => st", "ﬆ => st"]


# The characters Unicode word breaking (UAX #29, the standard tokenizer) keeps inside a word or a
# number ("library's", "U.S", "1.5", "1,000"): docstore.analysis splits words there, as SQLite's
# index does, so OpenSearch is given a space instead and both stores hold the same words.
WORD_JOINERS = "'\u2018\u2019.,:;\u00b7\u0387\u037e\u05f4\u066c\u2024\ufe13\ufe14\ufe50\ufe52\ufe54\ufe55\uff07\uff0c\uff0e\uff1a\uff1b"


def analysis_settings() -> dict[str, Any]:
    base_filters = ["cjk_width", "lowercase", "cjk_bigram"]
    joiners = {"type": "pattern_replace", "pattern": "[" + re.escape(WORD_JOINERS) + "]", "replacement": " "}
    return {
        "char_filter": {
            "folio_ligatures": {"type": "mapping", "mappings": LIGATURES},
            "folio_word_breaks": joiners,
        },
        "analyzer": {
            "folio_text": {
                "type": "custom",
                "char_filter": ["folio_ligatures", "folio_word_breaks"],
                "tokenizer": "standard",
                "filter": base_filters,
            },
        },
    }


BM25_K1 = 1.2  # FTS5's constants (sqlite/ext/fts5/fts5_aux.c)
BM25_B = 0.75
# Painless for a `scripted` similarity: the weight script is the per-term part (IDF × boost), the
# score script the per-document part. It reads the same postings and length norms as Lucene's BM25
# (an index can be switched between them in place); scripts/bench_first_stage.py times both on one
# index, and their latencies were within noise of each other (BENCHMARKS.md, "First stage").
_BM25_WEIGHT = (
    "double n = field.docCount; double df = term.docFreq;"
    " return query.boost * Math.max(Math.log((n - df + 0.5) / (df + 0.5)), 1e-6);"
)
_BM25_SCORE = (
    "double tf = doc.freq; double avgdl = (double) field.sumTotalTermFreq / field.docCount;"
    f" return weight * tf * {BM25_K1 + 1} / (tf + {BM25_K1} * ({1 - BM25_B} + {BM25_B} * doc.length / avgdl));"
)


def bm25_similarity() -> dict[str, Any]:
    """The pages index's text similarity (see the module docstring)."""
    return {"type": "scripted", "weight_script": {"source": _BM25_WEIGHT}, "script": {"source": _BM25_SCORE}}


def index_settings(
    knn: bool = False, shards: int | None = None, replicas: int | None = None
) -> dict[str, Any]:
    """One shard unless told (a first-stage index of pages is small per collection); replicas
    unless told follow the cluster size, so a single dev node stays green and a cluster keeps a copy."""
    settings: dict[str, Any] = {"number_of_shards": shards or 1}
    if replicas is None:
        settings["auto_expand_replicas"] = "0-1"
    else:
        settings["number_of_replicas"] = replicas
    if knn:
        settings["knn"] = True
        settings["analysis"] = analysis_settings()
        settings["similarity"] = {"default": bm25_similarity()}
    return {"index": settings}


def _searchable(field: str) -> dict[str, Any]:
    """title/text are copied into `content` (all words), which BM25 searches. The title keeps its
    own index (mapped so since the first indices, which cannot drop it) but is not searched alone."""
    mapping: dict[str, Any] = {"type": "text", "analyzer": "folio_text", "copy_to": ["content"]}
    if field == "text":
        mapping["index"] = False  # searched through `content`; indexing it again would double the index
    return mapping


def knn_vector_field(dim: int) -> dict[str, Any]:
    if dim < 1:
        raise ValueError(f"embedding dim must be >= 1, got {dim}")
    return {
        "type": "knn_vector",
        "dimension": dim,
        "method": {"name": "hnsw", "engine": "lucene", "space_type": SPACE_TYPE},
    }


def pages_mapping(dim: int | None) -> dict[str, Any]:
    keyword = {"type": "keyword"}
    properties: dict[str, Any] = {
        "page_id": keyword,
        "doc_id": keyword,
        "collection": keyword,
        "source": keyword,
        "content_hash": keyword,
        "page_number": {"type": "integer"},
        "page_count": {"type": "integer"},
        "kind": keyword,
        "title": _searchable("title"),
        "language": keyword,
        "text": _searchable("text"),
        "content": {"type": "text", "analyzer": "folio_text"},
        STEM_FIELD: stem_field(),
        "ocr": {"type": "boolean"},
        "has_figures": {"type": "boolean"},
        "acl": keyword,
        REF_FIELD: keyword,
    }
    if dim is not None:
        properties["embedding"] = knn_vector_field(dim)
    properties[VECTOR_COPY] = {"type": "binary"}
    return {"dynamic": "strict", "_source": {"excludes": ["embedding", STEM_FIELD]}, "properties": properties}


def stem_field() -> dict[str, Any]:
    """Terms made by docstore.analysis: split on whitespace only, nothing else to do."""
    return {"type": "text", "analyzer": "whitespace"}


def images_mapping() -> dict[str, Any]:
    return {
        "dynamic": "strict",
        "properties": {
            "page_id": {"type": "keyword"},
            "doc_id": {"type": "keyword"},
            "acl": {"type": "keyword"},
            "image": {"type": "binary"},  # base64 in _source, neither indexed nor in doc values
            "thumbnail": {"type": "binary"},
            WORD_BOXES_FIELD: {"type": "binary"},
        },
    }


def docs_mapping() -> dict[str, Any]:
    keyword = {"type": "keyword"}
    return {
        "dynamic": "strict",
        "properties": {
            "doc_id": keyword,
            "collection": keyword,
            "source": keyword,
            "title": {"type": "text", "fields": {"raw": keyword}},
            "content_hash": keyword,
            "page_count": {"type": "integer"},
            "complete": {"type": "boolean"},
            "acl": keyword,
        },
    }


def failures_mapping() -> dict[str, Any]:
    """Files that could not be opened, by doc_id: looked up by id, never searched."""
    return {
        "dynamic": "strict",
        "properties": {
            "doc_id": {"type": "keyword"},
            "source": {"type": "keyword", "index": False},
            "size": {"type": "long", "index": False},
            "mtime_ns": {"type": "long", "index": False},
            "reason": {"type": "keyword", "index": False},
        },
    }


# -- filters -------------------------------------------------------------------------------


def acl_clause(groups: list[str] | None) -> dict[str, Any] | None:
    """Visible when the acl is empty (public) or shares a group; None means no restriction."""
    if groups is None:
        return None
    public: dict[str, Any] = {"bool": {"must_not": [{"exists": {"field": "acl"}}]}}
    if not groups:
        return public
    return {"bool": {"should": [public, {"terms": {"acl": list(groups)}}], "minimum_should_match": 1}}


def filter_clauses(filters: Filters | None, *, language: bool = True) -> list[dict[str, Any]]:
    """Exact-match filter clauses for a bool `filter` (no scoring, cached by OpenSearch)."""
    if filters is None:
        return []
    clauses: list[dict[str, Any]] = []
    if filters.collection is not None:
        clauses.append({"term": {"collection": filters.collection}})
    if filters.doc_id is not None:
        clauses.append({"term": {"doc_id": filters.doc_id}})
    if language and filters.language is not None:
        clauses.append({"term": {"language": filters.language}})
    acl = acl_clause(filters.groups)
    if acl is not None:
        clauses.append(acl)
    return clauses


def filtered(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}


# -- queries -------------------------------------------------------------------------------


def build_bm25_query(
    query: str,
    filters: Filters | None = None,
    *,
    size: int = 10,
    offset: int = 0,
    source: bool = True,
    languages: Sequence[str] = (),
    expansion: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The exact words over title+text (`content`), plus the stems over the stemmed field with
    STEM_WEIGHT, scores summed; the query is analysed for the index's `languages`
    (docstore.analysis). `expansion`'s stems (docstore.feedback) join on the stemmed field with
    their boosts.

    The query is analysed as plain text (no query-string syntax), so operators and quotes in
    user input are searched as words and never raise a parse error."""
    terms = query_terms(query, languages)
    should: list[dict[str, Any]] = []
    if terms.exact:
        should.append({"match": {"content": {"query": " ".join(terms.exact)}}})
    if terms.stems:
        should.append(
            {"match": {STEM_FIELD: {"query": " ".join(terms.stems), "boost": analysis.STEM_WEIGHT}}}
        )
    for stem, boost in (expansion or {}).items():
        should.append({"term": {STEM_FIELD: {"value": stem, "boost": boost}}})
    match: dict[str, Any] = (
        {"bool": {"should": should, "minimum_should_match": 1}} if should else {"match_none": {}}
    )
    body: dict[str, Any] = {
        "from": offset,
        "size": size,
        "track_total_hits": False,
        "query": {"bool": {"must": [match], "filter": filter_clauses(filters)}},
    }
    body.update(_source_spec(source))
    return body


def build_languages_query(filters: Filters | None = None) -> dict[str, Any]:
    """The page languages present (among the pages `filters` select), with their page counts."""
    body: dict[str, Any] = {"size": 0, "aggs": {"languages": {"terms": {"field": "language", "size": 200}}}}
    if filters is not None:
        body["query"] = filtered(filter_clauses(filters))
    return body


def build_knn_query(
    vector: list[float], k: int, filters: Filters | None = None, *, offset: int = 0, source: bool = True
) -> dict[str, Any]:
    """Top-k by cosine with the filters inside the kNN search (Lucene's filtered HNSW, which
    falls back to exact search when the filter is selective), so k visible pages come back."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    knn: dict[str, Any] = {"vector": list(vector), "k": k}
    clauses = filter_clauses(filters)
    if clauses:
        knn["filter"] = {"bool": {"filter": clauses}}
    body: dict[str, Any] = {
        "from": offset,
        "size": max(0, k - offset),
        "track_total_hits": False,
        "query": {"knn": {"embedding": knn}},
    }
    body.update(_source_spec(source))
    return body


def _source_spec(source: bool) -> dict[str, Any]:
    # unfiltered: source filtering parses every hit's JSON on the node (see the module docstring)
    return {"_source": source}


def build_count_query(filters: Filters | None) -> dict[str, Any]:
    return {"query": filtered(filter_clauses(filters))}


def build_pages_lookup(
    page_ids: Sequence[str], groups: list[str] | None, source: dict[str, Any] | list[str] | None = None
) -> dict[str, Any]:
    """Pages (or image records) by id, only those visible to `groups`, with the `_source` parts
    `source` names (includes, or {"excludes": [...]}; None: all of it)."""
    clauses: list[dict[str, Any]] = [{"terms": {"page_id": list(page_ids)}}]
    acl = acl_clause(groups)
    if acl is not None:
        clauses.append(acl)
    body: dict[str, Any] = {"size": len(page_ids), "query": {"bool": {"filter": clauses}}}
    if source is not None:
        body["_source"] = source
    return body


# The one-off update that gives the pages of an index from before REF_FIELD their reference
# (`POST <prefix>-pages/_update_by_query?conflicts=proceed`, after the field is mapped); pages
# written since carry it already, so it touches only the others and can be run again.
REF_BACKFILL: dict[str, Any] = {
    "query": {"bool": {"must_not": {"exists": {"field": REF_FIELD}}}},
    "script": {
        "lang": "painless",
        "source": f"ctx._source.{REF_FIELD} = '{PAGE_REF_PREFIX}' + ctx._source.page_id",
    },
}


def build_docs_query(filters: Filters | None) -> dict[str, Any]:
    """Document records (collection, doc_id, ACL; documents have no language)."""
    return {"query": filtered(filter_clauses(filters, language=False))}


def build_pages_per_doc(doc_ids: list[str]) -> dict[str, Any]:
    """Stored page counts for the given documents, in one terms aggregation."""
    return {
        "size": 0,
        "query": {"terms": {"doc_id": doc_ids}},
        "aggs": {"per_doc": {"terms": {"field": "doc_id", "size": max(1, len(doc_ids))}}},
    }
