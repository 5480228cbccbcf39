"""The stored form of word positions: exact offsets, coordinates to 1/10000 of the page, a few
bytes a word, and clear errors for what it cannot hold or read."""

from __future__ import annotations

import random

import pytest

from docstore.word_boxes import SCALE, VERSION, WordBox, decode_word_boxes, encode_word_boxes


def _boxes(count: int, seed: int = 7) -> list[WordBox]:
    rng = random.Random(seed)
    boxes, end = [], 0
    for _ in range(count):
        start = end + rng.choice([0, 1, 1, 1, 2, 5])
        end = start + rng.randint(1, 12)
        x0, y0 = rng.random() * 0.9, rng.random() * 0.95
        boxes.append(WordBox(start, end, x0, y0, x0 + rng.random() * 0.1, y0 + 0.02))
    return boxes


def test_offsets_round_trip_exactly_and_coordinates_to_the_quantum() -> None:
    boxes = _boxes(300)
    data = encode_word_boxes(boxes)
    assert data[0] == VERSION
    got = decode_word_boxes(data)
    assert [(b.start, b.end) for b in got] == [(b.start, b.end) for b in boxes]
    for before, after in zip(boxes, got, strict=True):
        for a, b in zip(before[2:], after[2:], strict=True):
            assert abs(a - b) <= 0.5 / SCALE
    assert decode_word_boxes(encode_word_boxes(got)) == got  # decoded values are on the grid already
    assert len(data) <= 11 * len(boxes)  # a byte each for gap and length, 2 per coordinate


def test_plain_tuples_encode_as_word_boxes_do() -> None:
    boxes = _boxes(5)
    assert encode_word_boxes([tuple(b) for b in boxes]) == encode_word_boxes(boxes)


def test_no_words_and_long_gaps_and_words() -> None:
    assert decode_word_boxes(encode_word_boxes([])) == []
    far = [WordBox(0, 3, 0.1, 0.1, 0.2, 0.2), WordBox(70_000, 70_300, 0.5, 0.5, 0.9, 0.6)]
    got = decode_word_boxes(encode_word_boxes(far))  # gaps and lengths past one byte
    assert [(b.start, b.end) for b in got] == [(0, 3), (70_000, 70_300)]
    assert got[1].x1 == 0.9


def test_coordinates_off_the_page_are_clamped() -> None:
    got = decode_word_boxes(encode_word_boxes([WordBox(0, 1, -0.2, 0.5, 1.3, 1.0)]))
    assert (got[0].x0, got[0].y0, got[0].x1, got[0].y1) == (0.0, 0.5, 1.0, 1.0)


def test_words_out_of_order_or_overlapping_are_refused() -> None:
    with pytest.raises(ValueError, match="text order"):
        encode_word_boxes([WordBox(5, 9, 0, 0, 1, 1), WordBox(2, 4, 0, 0, 1, 1)])
    with pytest.raises(ValueError, match="text order"):
        encode_word_boxes([WordBox(0, 5, 0, 0, 1, 1), WordBox(4, 8, 0, 0, 1, 1)])


def test_unknown_versions_and_cut_data_are_refused() -> None:
    data = encode_word_boxes(_boxes(4))
    with pytest.raises(ValueError, match="version"):
        decode_word_boxes(bytes([VERSION + 1]) + data[1:])
    with pytest.raises(ValueError, match="version"):
        decode_word_boxes(b"")
    with pytest.raises(ValueError):
        decode_word_boxes(data[:-1])
    with pytest.raises(ValueError, match="cut short"):
        decode_word_boxes(bytes([VERSION, 0x85]))
