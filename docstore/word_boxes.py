"""Where the words of a page's text are on its image (`Page.word_boxes`), and their compact form.

A `WordBox` ties a word's character offsets in `Page.text` (so ``text[start:end]`` is the word)
to its box on the stored page image, as fractions (0..1) of the image's width and height with
the origin top-left. Stored as bytes: a version byte; the number of boxes; per box, in text order,
the gap since the previous word's end and the word's length (LEB128 varints, one byte each for
most words); then every box's x0, y0, x1, y1 quantised to 1/10000 of the page (little-endian
uint16): about 10 bytes a word. A page's boxes are encoded (numpy) or decoded (struct) in well
under a millisecond."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import accumulate, chain
from typing import NamedTuple

import numpy as np

VERSION = 1
SCALE = 10_000  # coordinates are kept to 1/SCALE of the page's width or height


# A named tuple rather than a dataclass: a page holds hundreds of words, and decoding the boxes of
# a results page builds a tuple several times faster than a frozen dataclass.
class WordBox(NamedTuple):
    start: int  # offset of the word's first character in Page.text
    end: int  # offset just past its last character
    x0: float  # fractions of the page image's width and height, origin top-left
    y0: float
    x1: float
    y1: float


def encode_word_boxes(boxes: Sequence[tuple[int, int, float, float, float, float]]) -> bytes:
    """The stored form of `boxes` (WordBox or plain tuples of the same fields), in text order
    without overlaps (ValueError otherwise); coordinates outside 0..1 are clamped to the page."""
    out = bytearray((VERSION,))
    _varint(out, len(boxes))
    if not boxes:
        return bytes(out)
    # one row per word: start, end, x0, y0, x1, y1 (fromiter: faster than asarray on tuples)
    table = np.fromiter(chain.from_iterable(boxes), np.float64, 6 * len(boxes)).reshape(-1, 6)
    starts, ends = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    gaps, lengths = starts - np.concatenate(([0], ends[:-1])), ends - starts
    if min(gaps.min(), lengths.min()) < 0:
        raise ValueError("word boxes must be in text order, each word after the one before")
    offsets = np.column_stack((gaps, lengths)).ravel()
    if offsets.max() < 0x80:
        out += offsets.astype(np.uint8).tobytes()  # the usual case: every gap and length fits one byte
    else:
        for value in offsets.tolist():
            _varint(out, value)
    out += np.clip(np.rint(table[:, 2:] * SCALE), 0, SCALE).astype("<u2").tobytes()
    return bytes(out)


def decode_word_boxes(data: bytes) -> list[WordBox]:
    """The boxes of a stored `Page.word_boxes` value; ValueError for another version, or bytes
    cut short."""
    if not data or data[0] != VERSION:
        raise ValueError(f"unknown word box format (version byte {data[:1]!r}, expected {VERSION})")
    count, pos = _read_varint(data, 1)
    section = data[pos : pos + 2 * count]
    if len(section) == 2 * count and (not section or max(section) < 0x80):
        offsets: Sequence[int] = section  # one byte each
        pos += 2 * count
    else:
        offsets = []
        for _ in range(2 * count):
            value, pos = _read_varint(data, pos)
            offsets.append(value)
    if len(data) - pos != 8 * count:
        raise ValueError(f"word box data has {len(data) - pos} coordinate bytes for {count} boxes")
    lengths = offsets[1::2]
    ends = list(accumulate(gap + length for gap, length in zip(offsets[0::2], lengths, strict=True)))
    starts = [end - length for end, length in zip(ends, lengths, strict=True)]
    c = [v / SCALE for v in struct.unpack_from(f"<{4 * count}H", data, pos)]
    return list(map(WordBox, starts, ends, c[0::4], c[1::4], c[2::4], c[3::4]))


def _varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("word box data cut short")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
