"""The terms of the embedded store's BM25 index, made in Python for pages and queries alike, so
that the index holds exactly the terms a query asks for (it is searched with term queries, never
through a query parser).

- exact: docstore.analysis tokens with their diacritics removed (as SQLite's `unicode61
  remove_diacritics 2` did), CJK runs as overlapping character bigrams ("東京大学" → 東京 京大
  大学), the scheme of Lucene's CJK analyzer that the OpenSearch store uses too. A query's CJK run
  becomes the phrase of its bigrams; a one-character run, a term prefix on the bigrams.
- stems: the page's stemmed field (docstore.analysis.page_stems), diacritics removed the same way.
"""

from __future__ import annotations

import unicodedata

from docstore.analysis import CJK_RUN, page_stems, tokens


def fold(token: str) -> str:
    """`token` without diacritics ("é" → "e"; letters that are not a base plus a mark stay)."""
    if token.isascii():
        return token
    decomposed = unicodedata.normalize("NFD", token)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def bigrams(run: str) -> list[str]:
    """A CJK run's overlapping character pairs (a lone character stays itself)."""
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def exact_terms(text: str) -> list[str]:
    """The exact field's terms of `text`, in order."""
    return _exact(tokens(text))


def _exact(words: list[str]) -> list[str]:
    out: list[str] = []
    for token in words:
        if token.isascii():
            out.append(token)
        elif CJK_RUN.fullmatch(token):
            out.extend(bigrams(token))
        else:
            out.append(fold(token))
    return out


def page_fields(title: str, text: str, language: str) -> tuple[str, str]:
    """(exact, stems) of a page as whitespace-separated terms: the title counts as part of the
    page's text, as in OpenSearch's `content` field."""
    whole = title + "\n" + text
    words = tokens(whole)
    exact = " ".join(words if whole.isascii() else _exact(words))
    stems = " ".join(page_stems(words, language))
    if not stems.isascii():
        stems = " ".join(fold(s) for s in stems.split())
    return exact, stems
