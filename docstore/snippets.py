"""Query-aware text excerpts for search hits.

The excerpt is HTML: matched query terms are wrapped in ``<mark>…</mark>`` and everything else
is escaped, so the portal can insert it as-is. Latin/Arabic/Cyrillic terms match whole words
case-insensitively; CJK has no spaces between words, so a CJK run in the query matches as a
substring (and, failing that, its character bigrams do, mirroring how the stores index CJK)."""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_left, bisect_right
from functools import lru_cache

# Han, Hiragana, Katakana, Hangul and CJK punctuation/compatibility blocks.
_CJK = (
    "\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31bf\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[^\W{_CJK}]+")


def query_terms(query: str) -> tuple[list[str], list[str]]:
    """(words, cjk_substrings) of a query, lower-cased, deduplicated, longest first."""
    norm = unicodedata.normalize("NFKC", query).lower()
    words = {w for w in _WORD.findall(norm) if w}
    cjk: set[str] = set()
    for run in _CJK_RUN.findall(norm):
        cjk.add(run)
        if len(run) > 2:  # fall back to bigrams so a partial phrase still highlights
            cjk.update(run[i : i + 2] for i in range(len(run) - 1))
    return sorted(words, key=len, reverse=True), sorted(cjk, key=len, reverse=True)


@lru_cache(maxsize=256)  # one compile per query, reused for every hit
def _pattern(query: str) -> re.Pattern[str] | None:
    words, cjk = query_terms(query)
    # one boundary check around one alternation of the words (a lookbehind per word made the
    # scan much slower); CJK substrings need no boundaries
    alternatives = [rf"(?<![^\W_])(?:{'|'.join(re.escape(w) for w in words)})(?![^\W_])"] if words else []
    alternatives += [re.escape(c) for c in cjk]
    if not alternatives:
        return None
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _best_window(matches: list[re.Match[str]], length: int, max_chars: int) -> int:
    """Start offset of the window that covers the most distinct terms (then most matches).

    Matches are sorted and do not overlap, so the ones inside a window are a contiguous slice
    found by bisection: O(m log m) rather than comparing every match with every other."""
    starts = [m.start() for m in matches]
    ends = [m.end() for m in matches]
    terms = [m.group(0).lower() for m in matches]
    best_start, best_key = 0, (-1, -1)
    lead = max_chars // 5  # show some context before the first match
    tried: set[int] = set()
    for first in starts:
        start = max(0, min(first - lead, length - max_chars))
        if start in tried:
            continue
        tried.add(start)
        lo = bisect_left(starts, start)
        hi = bisect_right(ends, start + max_chars)
        key = (len(set(terms[lo:hi])), max(0, hi - lo))
        if key > best_key:
            best_start, best_key = start, key
    return best_start


def make_snippet(text: str, query: str, max_chars: int = 240) -> str:
    """An HTML excerpt of `text` (about `max_chars` visible characters) around the best match."""
    if max_chars < 1:
        raise ValueError("max_chars must be >= 1")
    clean = " ".join(unicodedata.normalize("NFKC", text).split())  # the same whitespace as \s
    pattern = _pattern(query)
    matches = list(pattern.finditer(clean)) if pattern else []
    start = _best_window(matches, len(clean), max_chars) if matches else 0
    end = min(len(clean), start + max_chars)
    # Snap to word boundaries so the excerpt does not start or end mid-word (Latin text only).
    if start > 0 and clean[start - 1] != " ":
        space = clean.find(" ", start, min(end, start + 20))
        if space != -1:
            start = space + 1
    if end < len(clean) and clean[end] != " ":
        space = clean.rfind(" ", max(start, end - 20), end)
        if space != -1:
            end = space
    parts: list[str] = []
    pos = start
    for m in matches:
        if m.start() < start or m.end() > end:
            continue
        parts.append(html.escape(clean[pos : m.start()]))
        parts.append(f"<mark>{html.escape(m.group(0))}</mark>")
        pos = m.end()
    parts.append(html.escape(clean[pos:end]))
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(clean) else ""
    return prefix + "".join(parts).strip() + suffix
