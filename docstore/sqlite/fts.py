"""Text preparation and MATCH-expression building for the SQLite FTS5 index.

Why CJK bigrams in front of `unicode61` (and not the `trigram` tokenizer):
- Chinese and Japanese have no spaces, so `unicode61` would index a whole sentence as one token.
  We split every CJK run into overlapping character bigrams before indexing ("東京大学" →
  "東京 京大 大学") and turn a CJK query run into the phrase of its bigrams. This is the scheme
  of Lucene's CJK analyzer, which the OpenSearch backend uses too, so both stores rank alike.
- `trigram` would need queries of ≥ 3 characters, yet most Chinese/Japanese words are two
  characters, and it would triple the index for Latin text and lose BM25's word statistics.
- Latin, Cyrillic, Greek, Arabic, … stay with `unicode61 remove_diacritics 2` (case and accent
  folding, no stemming). Stems live in a second table, `pages_stem`, made per page language by
  docstore.analysis and searched beside this one.
A one-character CJK query becomes a prefix query on the bigrams (it misses a character that
only ends a run, an accepted gap).

User queries never reach FTS5 syntax: every term is double-quoted, so `AND`, `*`, `"`, `(`
are searched as words or dropped, and a query with no terms matches nothing."""

from __future__ import annotations

import unicodedata

from docstore.analysis import CJK_RUN


def _bigrams(run: str) -> list[str]:
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def fts_text(text: str) -> str:
    """Index form of a text: NFKC-normalised, CJK runs replaced by their bigrams."""
    norm = unicodedata.normalize("NFKC", text)
    return CJK_RUN.sub(lambda m: " " + " ".join(_bigrams(m.group(0))) + " ", norm)


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def exact_match(tokens: list[str]) -> str | None:
    """MATCH expression over pages_fts for already lower-cased tokens (words and CJK runs); a
    repeated token stays repeated, so that FTS5's bm25() counts it as often as the query has it."""
    clauses: list[str] = []
    for token in tokens:
        if CJK_RUN.fullmatch(token):
            if len(token) == 1:
                clauses.append(_quote(token) + "*")
            else:
                clauses.append(_quote(" ".join(_bigrams(token))))  # a phrase of adjacent bigrams
        else:
            clauses.append(_quote(token))
    return " OR ".join(clauses) if clauses else None


def stem_match(stems: list[str]) -> str | None:
    """MATCH expression over pages_stem (see docstore.analysis), or None if no terms."""
    return " OR ".join(_quote(s) for s in stems) if stems else None
