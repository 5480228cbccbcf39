"""Language-aware analysis for BM25, shared by both stores so that they index and query alike.

Every page is indexed twice: the exact, language-neutral tokens (docstore.sqlite.fts, and the
`content` field in OpenSearch) and a stemmed field made here from the page's detected language:
its stop words left out, every other word reduced by that language's Snowball stemmer
(PyStemmer). Pages of a language without a stemmer, or of no detected language, keep their
words as they are. CJK runs are left to the exact field, whose bigrams already match them.

A query is analysed for every language present in the index (a short query's own language is
too uncertain to guess): its stop words are those of any of them, its stems are each word's stem
in each of them that has a stemmer. A page too short for its language to be detected takes its
document's or its collection's (indexer.page_language), so few pages are left with none. Stop words are searched on the exact field only, so a query made only of them
still finds pages; the rest are searched on both fields, so a page with the exact form scores
on both and outranks one that only shares the stem.

The stemmed field is built once per page in Python and searched as whitespace-separated
tokens, which gives both stores the same terms (Lucene's own language analyzers would stem
slightly differently from Snowball in PyStemmer). Highlight boxes (docstore.highlights) match a
page's words to a query with these same pieces."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from docstore.snippets import _CJK
from docstore.stopwords import STOP_WORDS

# ISO 639-1 codes (as the indexer records them) -> Snowball algorithms shipped by PyStemmer.
STEMMERS = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "eo": "esperanto", "es": "spanish", "et": "estonian", "eu": "basque", "fa": "persian",
    "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian",
    "id": "indonesian", "it": "italian", "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian",
    "nb": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip
# Bounds the cost of pathological queries: distinct words, and words in all (a word repeated in
# a query is kept as often as it occurs: BM25 then weighs it by its query frequency).
MAX_QUERY_TERMS = 64
MAX_QUERY_WORDS = 256
# The stemmed field's BM25 score counts twice beside the exact field's: a page sharing a query
# word's stem still scores less than one with the exact form (which matches on both fields), and
# on CISI's judged queries this weighting is what lifts both stores over plain BM25 (BENCHMARKS.md).
STEM_WEIGHT = 2.0

TOKEN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]+")
CJK_RUN = re.compile(f"[{_CJK}]+")  # a run of CJK characters (matched as bigrams on the exact field)
_local = threading.local()  # PyStemmer's stemmers keep state between calls: one per thread


def tokens(text: str) -> list[str]:
    """NFKC-normalised, lower-cased words and CJK runs, in order."""
    return TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def _stemmer(language: str) -> Any:
    algorithm = STEMMERS.get(language)
    if algorithm is None:
        return None
    cache: dict[str, Any] | None = getattr(_local, "stemmers", None)
    if cache is None:
        cache = _local.stemmers = {}
    if algorithm not in cache:
        import Stemmer

        cache[algorithm] = Stemmer.Stemmer(algorithm)
    return cache[algorithm]


def stem_words(words: list[str], language: str) -> list[str]:
    """Each word's stem in `language` (the words unchanged where it has no stemmer)."""
    stemmer = _stemmer(language)
    return list(stemmer.stemWords(words)) if stemmer is not None and words else words


def stem_text(text: str, language: str) -> str:
    """The stemmed field of a page in `language` ("" or unknown: its words unchanged)."""
    return " ".join(page_stems(tokens(text), language))


def page_stems(words: list[str], language: str) -> list[str]:
    """The stemmed field's terms of a page's tokens (docstore.analysis.tokens) in `language`."""
    stops = STOP_WORDS.get(language, frozenset())
    return stem_words([t for t in words if stemmable(t) and t not in stops], language)


def stemmable(token: str) -> bool:
    """Words of two characters or more: CJK runs are matched as bigrams on the exact field, and a
    lone letter or digit (the "s" of "library's", a list marker) carries no topic worth a stem; the
    exact field keeps both."""
    return len(token) > 1 and (token.isascii() or not CJK_RUN.match(token))


@dataclass(frozen=True)
class QueryTerms:
    exact: list[str]  # tokens for the exact field (CJK runs included), stop words left out
    stems: list[str]  # terms for the stemmed field


def query_terms(query: str, languages: Iterable[str]) -> QueryTerms:
    """The query analysed for an index holding pages in `languages` ("" for pages of no detected
    language). A query made only of stop words keeps them all, on the exact field only.

    Stems come only from the languages that have a stemmer. The stemmed field of a page of no
    detected language (or of a language without a stemmer) holds its words unchanged, and those
    forms are the exact field's business: searched there, they would be rare terms of the stemmed
    field, with an IDF that lifts those few pages over every page stemmed properly."""
    langs = sorted(set(languages)) or [""]
    stemming = [lang for lang in langs if lang in STEMMERS]
    every = tokens(query)
    allowed = set(list(dict.fromkeys(every))[:MAX_QUERY_TERMS])
    found = [t for t in every if t in allowed][:MAX_QUERY_WORDS]
    stops = frozenset().union(*(STOP_WORDS.get(lang, frozenset()) for lang in langs))
    content = [t for t in found if t not in stops]
    if not content:
        return QueryTerms(exact=found, stems=[])
    words = [t for t in content if stemmable(t)]
    if not stemming:
        return QueryTerms(exact=content, stems=[])
    # each occurrence of a word gives its stem in every language, a stem shared by several once
    per_language = [stem_words(words, lang) for lang in stemming]
    stems = [stem for forms in zip(*per_language, strict=True) for stem in dict.fromkeys(forms)]
    return QueryTerms(exact=content, stems=stems)
