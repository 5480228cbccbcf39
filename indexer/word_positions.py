"""Where each word of a page's text is on the rendered page image, tied to its character offsets
in the text as stored (docstore.word_boxes keeps them).

The words are MuPDF's (`TextPage.extractWORDS`) from the same text page the text was read from:
the text layer's, or the one made from Tesseract's OCR (its word boxes, which MuPDF scales back
from the OCR resolution). Taken in reading order, each word must stand at the next place in the
text after nothing but whitespace, as it is or normalised as the text is (`clean_text`); a word
that does not is left out and the text's word in its place skipped, so an offset never points at
another word. The page workers run this and never import docstore (pydantic would slow every
run's start-up): boxes travel as plain tuples of WordBox's fields."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter

from indexer.text import Block, clean_text

# (x0, y0, x1, y1, word, block_no, line_no, word_no) as TextPage.extractWORDS returns them
Word = tuple[float, float, float, float, str, int, int, int]
# docstore.word_boxes.WordBox's fields: start, end, x0, y0, x1, y1 (fractions of the image)
BoxTuple = tuple[int, int, float, float, float, float]

_SPACES = re.compile(r"\s*")
_TOKEN = re.compile(r"\S+")


def word_boxes(
    text: str,
    blocks: Sequence[Block],
    ordered: Sequence[Block],
    words: Sequence[Word],
    frame: tuple[float, float, float, float],
) -> list[BoxTuple]:
    """The boxes of the words of `text`, which was made from `ordered` (indexer.text.text_blocks
    of `blocks`, the text page's blocks, which `words` come from too). `frame` is the rendered
    image's rectangle in the words' coordinates (the rotated, cropped page's: `page.rect`).
    Each block's words are sought in that block's part of the text only: a block whose words
    do not match its text (overprinted glyphs, say) costs its own words, never the next block's."""
    x0, y0, x1, y1 = frame
    if x1 <= x0 or y1 <= y0:
        return []
    sx, sy = 1 / (x1 - x0), 1 / (y1 - y0)
    # extractWORDS gives a block's words together and numbers only text blocks (extractBLOCKS
    # numbers every block, images and vectors too)
    by_block = {number: list(group) for number, group in groupby(words, key=itemgetter(5))}
    text_number = {b[5]: i for i, b in enumerate(b for b in blocks if b[6] == 0)}
    boxes: list[BoxTuple] = []
    starts = text.startswith
    for (pos, end), block in zip(_block_spans(text, ordered), ordered, strict=True):
        for w in by_block.get(text_number[block[5]], ()):
            word = w[4]
            if starts(word, pos + 1, end) and text[pos].isspace():
                at = pos + 1  # the usual case: one space or newline since the last word
            elif starts(word, pos, end):
                at = pos
            else:
                at = _SPACES.match(text, pos, end).end()  # type: ignore[union-attr]  # \s* always matches
                if not starts(word, at, end):
                    word = clean_text(word)
                    if not word:
                        continue  # nothing of it is in the text
                    if not starts(word, at, end):
                        token = _TOKEN.match(text, at, end)
                        pos = token.end() if token else at
                        continue
            pos = at + len(word)
            boxes.append((at, pos, (w[0] - x0) * sx, (w[1] - y0) * sy, (w[2] - x0) * sx, (w[3] - y0) * sy))
    return boxes


def _block_spans(text: str, ordered: Sequence[Block]) -> list[tuple[int, int]]:
    """Where each block's text is in `text` (indexer.text.blocks_text): one after the other, a
    newline between; a block that cleaning changed is cleaned and found after the last."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for block in ordered:
        part = block[4].strip()
        if not text.startswith(part, pos):
            part = clean_text(part)
            at = text.find(part, pos) if part else -1
            if at < 0:
                spans.append((pos, pos))  # not found: none of its words are placed
                continue
            pos = at
        spans.append((pos, pos + len(part)))
        pos += len(part) + 1
    return spans
