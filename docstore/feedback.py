"""Pseudo-relevance feedback for the BM25 mode (`SearchRequest.feedback`), the same in both stores.

RM3's relevance model (Lavrenko and Croft; Anserini's BM25+RM3 baseline): a first BM25 pass, with
the request's filters, finds the DOCS best pages the caller may see. Each stem of a page's stemmed
field weighs its share of that page's stems times the page's share of the pages' BM25 scores,
summed over the pages; the TERMS heaviest join the query on the stemmed field, their boosts
summing to WEIGHT times the query's own stemmed-field weight, so the query's words keep most of
the score. A page that shares the best pages' vocabulary without the query's words (another
word for the same thing) then enters the ranking: on the IR test collections this lifts BM25's
recall@50 on every one (README, "Measuring relevance"), at the cost of a second BM25 search.

Pages of a language without a stemmer give no terms: their stemmed field holds their words
unchanged, and those forms are the exact field's business (docstore.analysis.query_terms).
Values chosen leave-one-collection-out (scripts/eval_relevance.py --grid).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from docstore import analysis

DOCS = 3  # best pages of the first pass
TERMS = 50  # stems taken from them
WEIGHT = 0.2  # their boosts' sum, as a share of the query's own stemmed-field weight


class FeedbackPage(NamedTuple):
    title: str
    text: str
    language: str
    score: float  # its BM25 score in the first pass


def expansion(pages: Iterable[FeedbackPage], query: str, languages: Iterable[str]) -> dict[str, float]:
    """Stem → boost on the stemmed field (in place of STEM_WEIGHT, before the store's IDF) for the
    query `query` over an index of `languages`, from the first pass's best `pages`; empty when
    they give no stems."""
    chosen = [p for p in list(pages)[:DOCS] if p.score > 0 and p.language in analysis.STEMMERS]
    total = sum(p.score for p in chosen)
    weights: dict[str, float] = {}
    for page in chosen:
        stems = analysis.page_stems(analysis.tokens(page.title + "\n" + page.text), page.language)
        if not stems:
            continue
        share = page.score / total / len(stems)
        for stem, count in Counter(stems).items():
            weights[stem] = weights.get(stem, 0.0) + share * count
    top = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:TERMS]
    mass = sum(w for _, w in top)
    if mass <= 0:
        return {}
    own = max(1, len(analysis.query_terms(query, languages).stems))
    scale = WEIGHT * analysis.STEM_WEIGHT * own / mass
    return {stem: w * scale for stem, w in top}
