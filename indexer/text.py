"""Text from a page in reading order, a light script-based language guess, and a document title."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only annotations here: the indexing process itself never loads PyMuPDF
    from indexer.mupdf import pymupdf

# (x0, y0, x1, y1, text, block_no, block_type) as returned by page.get_text("blocks")
Block = tuple[float, float, float, float, str, int, int]


def reading_order_text(page: pymupdf.Page, textpage: pymupdf.TextPage | None = None) -> str:
    """Text blocks ordered top to bottom, with two-column layouts read column by column.
    ("blocks" extraction is several times faster than get_text(sort=True), which sorts lines.)"""
    return text_from_blocks(page.get_text("blocks", textpage=textpage), page.rect.width)


def text_from_blocks(blocks: Sequence[Block], page_width: float) -> str:
    return blocks_text(text_blocks(blocks, page_width))


def text_blocks(blocks: Sequence[Block], page_width: float) -> list[Block]:
    """The blocks a page's text is made of (text blocks with text), in reading order."""
    return order_blocks([b for b in blocks if b[6] == 0 and b[4].strip()], page_width)


def blocks_text(ordered: Sequence[Block]) -> str:
    """The page text of `text_blocks`: one block after the other, a newline between."""
    return clean_text("\n".join(b[4].strip() for b in ordered))


def order_blocks(blocks: Sequence[Block], page_width: float) -> list[Block]:
    """Full-width blocks split the page into bands; inside a band, the left column's blocks come
    before the right column's when the band really has two columns, else plain top-to-bottom."""
    mid = page_width / 2
    tol = page_width * 0.02

    def side(b: Block) -> str:
        if b[2] <= mid + tol:
            return "L"
        if b[0] >= mid - tol:
            return "R"
        return "F"

    out: list[Block] = []
    band: list[Block] = []

    def flush() -> None:
        lefts = [b for b in band if side(b) == "L"]
        rights = [b for b in band if side(b) == "R"]
        if len(lefts) >= 2 and len(rights) >= 2:
            out.extend(sorted(lefts, key=lambda b: (b[1], b[0])) + sorted(rights, key=lambda b: (b[1], b[0])))
        else:
            out.extend(sorted(band, key=lambda b: (round(b[1]), b[0])))
        band.clear()

    for b in sorted(blocks, key=lambda b: (b[1], b[0])):
        if side(b) == "F":
            flush()
            out.append(b)
        else:
            band.append(b)
    flush()
    return out


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def clean_text(text: str) -> str:
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Script ranges -> language. Kana decide Japanese over Chinese; Hangul Korean. Counted with
# regexes (C speed) over the page's non-ASCII characters only, rather than a per-character loop.
_SCRIPTS: dict[str, re.Pattern[str]] = {
    "kana": re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]"),
    "ko": re.compile("[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),
    "han": re.compile("[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]"),
    "ar": re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]"),
    "ru": re.compile("[\u0400-\u04ff]"),
    "th": re.compile("[\u0e00-\u0e7f]"),
    "el": re.compile("[\u0370-\u03ff]"),
    "he": re.compile("[\u0590-\u05ff]"),
    "hi": re.compile("[\u0900-\u097f]"),
}
_ASCII_RUNS = re.compile("[\x00-\x7f]+")
_LATIN_EXTENDED = re.compile("[\u00c0-\u024f]")
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WORD = re.compile(r"[a-zäöüßéèêàâçñóíúãõ]+")
_SAMPLE_CHARS = 6000  # enough to tell; keeps long pages cheap

_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and of to in is that for with are this on be as by from it an or which".split()),
    "de": frozenset("der die das und ist nicht mit den von zu ein eine auf für sich dem des wir im".split()),
    "fr": frozenset("le la les et des est une dans pour que qui sur pas par au du avec ce".split()),
    "es": frozenset("el la los las y que en del por una con para es se como al".split()),
    "it": frozenset("il la che di per una sono con del della non gli le nel".split()),
    "nl": frozenset("de het een en van is dat op te zijn met voor niet".split()),
    "pt": frozenset("o a os as e que do da em um uma para com não por".split()),
}


def detect_language(text: str) -> str:
    """A cheap guess: the dominant non-Latin script decides (zh/ja/ko/ar/ru/th/…); Latin text is
    told apart by stopword counts. "" when there is too little text to say."""
    text = text[:_SAMPLE_CHARS]
    ascii_text = text.encode("ascii", "ignore")
    other = _ASCII_RUNS.sub("", text)  # usually a few accented letters: the script regexes scan only these
    counts = {name: len(rx.findall(other)) for name, rx in _SCRIPTS.items()}
    latin = len(ascii_text) - len(ascii_text.translate(None, _ASCII_LETTERS))
    latin += len(_LATIN_EXTENDED.findall(other))
    cjk = counts.get("han", 0) + counts.get("kana", 0)
    if cjk:
        counts["ja" if counts.get("kana", 0) * 10 >= cjk else "zh"] = (
            cjk * 2
        )  # ideographs carry more per char
        counts.pop("han", None)
        counts.pop("kana", None)
    best = max(counts.items(), key=lambda kv: kv[1])
    if best[1] >= max(latin, 1) * 0.5 and best[1] >= 2:
        return best[0]
    if latin < 20:
        return ""
    words = Counter(_WORD.findall(text.lower()))
    # one-letter stop words ("a", "e", "o", "y") are words of many languages, and of formulas and
    # initials: half the evidence ("A Note on Approximating e^x" is not Portuguese). Too little
    # evidence, or a tie, leaves the page to its document's or collection's language
    # (indexer.page_language).
    scores = {
        lang: sum(words[w] * (0.5 if len(w) == 1 else 1.0) for w in stops) for lang, stops in _STOPWORDS.items()
    }
    ranked = sorted(scores.values(), reverse=True)
    lang, hits = max(scores.items(), key=lambda kv: kv[1])
    return lang if hits >= 2 and hits > ranked[1] else ""


_JUNK_TITLES = {"untitled", "title", "no title", "document", "microsoft word", "slide 1"}
_FILE_LIKE = re.compile(r"\.(pdf|docx?|odt|tex|dvi|ps|rtf|pptx?|xlsx?)$", re.IGNORECASE)


def usable_title(candidate: str | None) -> str:
    """A metadata title worth showing, or "" (generators often leave file names or 'Untitled')."""
    title = clean_text((candidate or "").replace("\x00", "")).strip()
    title = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", title)
    if len(title) < 3 or title.lower() in _JUNK_TITLES or _FILE_LIKE.search(title):
        return ""
    return title[:300]


def first_line_title(text: str) -> str:
    """The first line of text that reads like a heading (has letters, not too long)."""
    for line in text.splitlines()[:15]:
        line = line.strip().lstrip("#").strip()
        letters = sum(ch.isalpha() for ch in line)
        if letters >= 3 and len(line) <= 200:
            return line
    return ""


def choose_title(metadata_title: str | None, first_page_text: str, stem: str) -> str:
    return usable_title(metadata_title) or first_line_title(first_page_text) or stem
