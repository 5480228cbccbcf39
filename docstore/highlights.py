"""Highlight boxes: where the words of a query are on a page image, from the page's word positions
(docstore.word_boxes).

A page word is marked where BM25 matches it (docstore.analysis): its exact form is one of the
query's words, or its stem in the page's language is one of the query's stems (so "libraries"
marks "library"). The query's stop words are left out unless it is made only of them, as the
stores do. A CJK run of the query marks where it or one of its bigrams occurs inside a CJK run of
the page (OpenSearch matches any of the bigrams; the snippet marks them too), a single CJK
character where a bigram starts with it. The query is analysed for the page's language alone
(the stores analyse it for every language of the index, so a word that is a stop word only in
another language may be marked here and not scored there).

Matches are character ranges of the page text. Each becomes the boxes of the words it covers, or
the share of a word's box it covers (a CJK run that the text layer holds as one word, the "u" of
"U.S."), and matched words next to each other on one line, with no other word between them,
become one box. Boxes are fractions of the page image (origin top-left), rounded to 4 decimals,
at most MAX_HIGHLIGHTS per page in reading order."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from docstore.analysis import CJK_RUN, TOKEN, query_terms, stem_words, stemmable
from docstore.snippets import _CJK
from docstore.stopwords import STOP_WORDS
from docstore.word_boxes import WordBox

MAX_HIGHLIGHTS = 32
# Two words are on one line when their boxes share half the height of the lower one, and next to
# each other when the space between them is at most this many line heights (a column gutter is wider).
_SAME_LINE_OVERLAP = 0.5
_NEAR_GAP_HEIGHTS = 1.5
_WORD_CHAR = re.compile(rf"[^\W{_CJK}]")  # a character of a word token (analysis.TOKEN), CJK aside
_WORD = re.compile(f"{_WORD_CHAR.pattern}+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# A page word's stem in a language ("" when the stemmed field leaves the word out), for at most
# this many words per language (then forgotten all at once). Entries are only ever added, and a
# dict's operations are atomic, so the API's threads share it without a lock.
_STEMS_KEPT = 50_000
_known_stems: dict[str, dict[str, str]] = {}


@dataclass(frozen=True)
class HighlightBox:
    """A marked region as fractions (0..1) of the page image's width and height, origin top-left."""

    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class _Piece:
    start: int  # the characters of the page text it covers
    end: int
    x0: float
    y0: float
    x1: float
    y1: float


def highlight(
    text: str, boxes: Sequence[WordBox], query: str, language: str = "", limit: int = MAX_HIGHLIGHTS
) -> list[HighlightBox]:
    """The boxes of the words of `text` (a page in `language`, its words at `boxes`, in text order
    as docstore.word_boxes keeps them) that match `query`, merged along lines, at most `limit`."""
    return place_spans(text, matched_spans(text, query, language), boxes, limit)


def place_spans(
    text: str, spans: list[tuple[int, int]], boxes: Sequence[WordBox], limit: int = MAX_HIGHLIGHTS
) -> list[HighlightBox]:
    """The boxes of `matched_spans`' ranges: a caller with no spans need not decode the boxes."""
    if not spans or not boxes or limit < 1:
        return []
    merged = _merge(text, _pieces(text, spans, boxes))
    return [_rounded(p) for p in merged[:limit]]


def matched_spans(text: str, query: str, language: str = "") -> list[tuple[int, int]]:
    """The (start, end) character ranges of `text` that match `query`, in text order."""
    terms = query_terms(query, [language])
    words = {t for t in terms.exact if not CJK_RUN.match(t)}
    runs = _cjk_terms(t for t in terms.exact if CJK_RUN.match(t))
    if not text or not (words or runs or terms.stems):
        return []
    norm, place = _normalised(text)
    if terms.stems:
        words |= _stem_matches(set(_WORD.findall(norm)), set(terms.stems), language)
    spans: list[tuple[int, int]] = []
    if words:
        spans += _word_spans(norm, words)
    if runs:
        for m in CJK_RUN.finditer(norm):
            spans += _cjk_spans(m.group(), m.start(), runs)
    spans.sort()
    return spans if place is None else [(place[s], place[e]) for s, e in spans]


def _word_spans(norm: str, words: set[str]) -> list[tuple[int, int]]:
    """Where `words` occur in `norm` as whole tokens. The words alone make the pattern (cheap to
    compile: a class of every non-CJK word character costs milliseconds per new pattern), and the
    token boundaries are checked per match: a match that fails them lies inside one token, so no
    whole-token match starts within it, and the longest word is tried first at each place."""
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    end = len(norm)
    return [
        (m.start(), m.end())
        for m in pattern.finditer(norm)
        if (m.start() == 0 or not _WORD_CHAR.match(norm, m.start() - 1))
        and (m.end() == end or not _WORD_CHAR.match(norm, m.end()))
    ]


def _normalised(text: str) -> tuple[str, list[int] | None]:
    """`text` as docstore.analysis.tokens reads it (NFKC, lower case), and where each of its
    characters comes from in `text` (None: the same place)."""
    norm = unicodedata.normalize("NFKC", text).lower()
    if len(norm) == len(text):  # nearly always: normalising kept every character in place
        return norm, None
    # Some character changed length ("ﬁ" -> "fi"). ASCII keeps its length, so normalise the runs of
    # other characters alone (the text is NFC already: no mark composes across a run's edge), and
    # place the characters of a run that changed in proportion inside it.
    parts: list[str] = []
    place: list[int] = []
    pos = 0
    for m in _NON_ASCII.finditer(text):
        parts.append(text[pos : m.start()].lower())
        place.extend(range(pos, m.start()))
        run, part = m.group(), unicodedata.normalize("NFKC", m.group()).lower()
        parts.append(part)
        n, k = len(run), len(part)
        place.extend(range(m.start(), m.end()) if n == k else (m.start() + i * n // k for i in range(k)))
        pos = m.end()
    parts.append(text[pos:].lower())
    place.extend(range(pos, len(text) + 1))
    return "".join(parts), place


def _stem_matches(found: set[str], stems: set[str], language: str) -> set[str]:
    """The page's words whose stem is one of `stems`, with the page's stemmed field's rules. Stems
    are remembered per language: the pages of a collection share most of their words."""
    known = _known_stems.get(language, {})
    new = [w for w in found if w not in known]
    if new:
        stops = STOP_WORDS.get(language, frozenset())
        words = [w for w in new if stemmable(w) and w not in stops]  # the others have no stem
        if len(known) + len(new) > _STEMS_KEPT:
            known = {}  # start afresh (a thread still reading the old one keeps it whole)
        stemmed = dict.fromkeys(new, "")
        stemmed.update(zip(words, stem_words(words, language), strict=True))
        known.update(stemmed)  # one update: no thread sees a word without its stem
        _known_stems[language] = known
    return {w for w in found if known.get(w) in stems}


def _cjk_terms(runs: Iterable[str]) -> list[str]:
    """The query's CJK runs and, for those longer than two characters, their bigrams."""
    out: dict[str, None] = {}
    for run in runs:
        out[run] = None
        if len(run) > 2:
            out.update(dict.fromkeys(run[i : i + 2] for i in range(len(run) - 1)))
    return list(out)


def _cjk_spans(token: str, start: int, runs: list[str]) -> list[tuple[int, int]]:
    """Where the query's CJK `runs` occur in a CJK run of the page (`token`, at `start`)."""
    spans: list[tuple[int, int]] = []
    for run in runs:
        at = token.find(run)
        while at != -1:
            # a lone character is searched as the bigrams it starts: not the last of a longer run
            if len(run) > 1 or len(token) == 1 or at < len(token) - 1:
                spans.append((start + at, start + at + len(run)))
            at = token.find(run, at + 1)
    return spans


def _pieces(text: str, spans: list[tuple[int, int]], boxes: Sequence[WordBox]) -> list[_Piece]:
    """Each span cut along the word boxes it covers (boxes in text order, not overlapping)."""
    starts = [b.start for b in boxes]
    ends = [b.end for b in boxes]
    pieces: list[_Piece] = []
    for s, e in spans:
        for i in range(bisect_right(ends, s), bisect_left(starts, e)):
            box = boxes[i]
            lo, hi = max(s, box.start), min(e, box.end)
            if lo < hi:
                pieces.append(_part(text, box, lo, hi))
    return pieces


def _part(text: str, box: WordBox, lo: int, hi: int) -> _Piece:
    """The share of a word's box that characters lo..hi of it take, in proportion to their count
    (along the height for a CJK word set vertically)."""
    if lo <= box.start and hi >= box.end:
        return _Piece(lo, hi, box.x0, box.y0, box.x1, box.y1)
    n = box.end - box.start
    f0, f1 = (lo - box.start) / n, (hi - box.start) / n
    width, height = box.x1 - box.x0, box.y1 - box.y0
    if height > width and CJK_RUN.search(text, box.start, box.end):
        return _Piece(lo, hi, box.x0, box.y0 + f0 * height, box.x1, box.y0 + f1 * height)
    return _Piece(lo, hi, box.x0 + f0 * width, box.y0, box.x0 + f1 * width, box.y1)


def _merge(text: str, pieces: list[_Piece]) -> list[_Piece]:
    """Pieces in text order, each joined to the previous one when they are adjacent matches on
    one line: no word between them, their boxes side by side."""
    out: list[_Piece] = []
    last: _Piece | None = None  # the latest piece, for the line test (a merged box may be wider)
    for piece in sorted(pieces, key=lambda p: (p.start, p.x0)):
        if out and last is not None and _adjacent(text, last, piece):
            head = out[-1]
            out[-1] = _Piece(
                head.start, max(head.end, piece.end), min(head.x0, piece.x0), min(head.y0, piece.y0),
                max(head.x1, piece.x1), max(head.y1, piece.y1),
            )  # fmt: skip
        else:
            out.append(piece)
        last = piece
    return out


def _adjacent(text: str, a: _Piece, b: _Piece) -> bool:
    if b.start > a.end and TOKEN.search(text, a.end, b.start):
        return False  # a word that did not match lies between them
    ha, hb = a.y1 - a.y0, b.y1 - b.y0
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    if overlap < _SAME_LINE_OVERLAP * min(ha, hb):
        return False
    gap = max(b.x0 - a.x1, a.x0 - b.x1)
    return gap <= _NEAR_GAP_HEIGHTS * max(ha, hb)


def _rounded(p: _Piece) -> HighlightBox:
    def clamp(v: float) -> float:
        return round(min(1.0, max(0.0, v)), 4)

    return HighlightBox(clamp(p.x0), clamp(p.y0), clamp(p.x1), clamp(p.y1))
