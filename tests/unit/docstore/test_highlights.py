"""Highlight boxes from word positions: the words BM25 matches (exact, stemmed, CJK), merged along
lines, bounded in number."""

from __future__ import annotations

import pytest

from docstore.highlights import MAX_HIGHLIGHTS, HighlightBox, highlight, matched_spans
from docstore.word_boxes import WordBox

CHAR_W, LINE_H, LINE_STEP = 0.01, 0.02, 0.05  # a monospaced layout: 1/100 of the width per character


def layout(*lines: str, left: float = 0.1) -> tuple[str, list[WordBox]]:
    """Page text of `lines` and a box for each of its space-separated words, as a text layer
    gives them: one character CHAR_W wide, line i at y = 0.1 + i × LINE_STEP."""
    boxes: list[WordBox] = []
    offset = 0
    for number, line in enumerate(lines):
        y = 0.1 + number * LINE_STEP
        column = 0
        for word in line.split(" "):
            if word:
                x = left + column * CHAR_W
                boxes.append(WordBox(offset, offset + len(word), x, y, x + len(word) * CHAR_W, y + LINE_H))
            column += len(word) + 1
            offset += len(word) + 1
    return "\n".join(lines), boxes


def box_of(text: str, boxes: list[WordBox], word: str, last: bool = False) -> HighlightBox:
    start = text.rindex(word) if last else text.index(word)
    (b,) = [b for b in boxes if b.start == start]
    return HighlightBox(round(b.x0, 4), round(b.y0, 4), round(b.x1, 4), round(b.y1, 4))


def test_a_stem_match_is_marked_in_english() -> None:
    text, boxes = layout("The library opens at nine", "Libraries of the city")
    found = highlight(text, boxes, "libraries", "en")
    assert found == [box_of(text, boxes, "library"), box_of(text, boxes, "Libraries")]


def test_exact_words_match_without_a_stemmer_and_whole_words_only() -> None:
    text, boxes = layout("category cat catalogue")
    assert highlight(text, boxes, "cat", "") == [box_of(text, boxes, "cat ")]


def test_stop_words_are_marked_only_when_the_query_has_nothing_else() -> None:
    text, boxes = layout("the library and the city")
    assert highlight(text, boxes, "the library", "en") == [box_of(text, boxes, "library")]
    assert len(highlight(text, boxes, "the", "en")) == 2  # as BM25 searches such a query on its words


def test_german_stems_and_stop_words() -> None:
    text, boxes = layout("Die Häuser der alten Stadt", "Das Haus")
    found = highlight(text, boxes, "die Hauses", "de")
    assert found == [box_of(text, boxes, "Häuser"), box_of(text, boxes, "Haus")]


def test_adjacent_matches_on_a_line_become_one_box() -> None:
    text, boxes = layout("the central public library", "public old library")
    first, second, third = highlight(text, boxes, "public library", "en")
    pub, lib = box_of(text, boxes, "public"), box_of(text, boxes, "library")
    assert first == HighlightBox(pub.x0, pub.y0, lib.x1, lib.y1)
    # an unmatched word between two matches keeps them apart
    assert second.x1 < third.x0 and second.y0 == third.y0


def test_a_word_split_across_lines_gives_two_boxes() -> None:
    # one token of the text held by two word boxes on two lines (as OCR may read it)
    text = "library"
    boxes = [WordBox(0, 4, 0.8, 0.1, 0.9, 0.12), WordBox(4, 7, 0.1, 0.15, 0.18, 0.17)]
    assert highlight(text, boxes, "library", "en") == [
        HighlightBox(0.8, 0.1, 0.9, 0.12), HighlightBox(0.1, 0.15, 0.18, 0.17)
    ]  # fmt: skip
    # the same two boxes side by side on one line are one box
    boxes = [WordBox(0, 4, 0.1, 0.1, 0.14, 0.12), WordBox(4, 7, 0.14, 0.1, 0.17, 0.12)]
    assert highlight(text, boxes, "library", "en") == [HighlightBox(0.1, 0.1, 0.17, 0.12)]


def test_words_far_apart_on_one_line_stay_apart() -> None:
    text, boxes = layout("library" + " " * 40 + "library")  # two columns
    assert len(highlight(text, boxes, "library", "en")) == 2


def test_cjk_run_held_as_one_word_marks_its_share() -> None:
    text = "東京大学の図書館"  # a text layer without spaces gives the run as one word
    boxes = [WordBox(0, 8, 0.1, 0.2, 0.5, 0.25)]
    assert highlight(text, boxes, "図書館", "ja") == [HighlightBox(0.35, 0.2, 0.5, 0.25)]
    # a longer query run marks the bigrams the page has, as OpenSearch matches them
    assert highlight(text, boxes, "図書室", "ja") == [HighlightBox(0.35, 0.2, 0.45, 0.25)]
    # set vertically (taller than wide), the share runs down the box
    tall = [WordBox(0, 8, 0.5, 0.1, 0.55, 0.5)]
    assert highlight(text, tall, "東京", "ja") == [HighlightBox(0.5, 0.1, 0.55, 0.2)]


def test_cjk_characters_with_their_own_boxes_are_merged() -> None:
    text = "図書館で本"  # OCR may give every character its box
    boxes = [WordBox(i, i + 1, 0.1 + i * 0.05, 0.3, 0.15 + i * 0.05, 0.35) for i in range(len(text))]
    assert highlight(text, boxes, "図書館", "zh") == [HighlightBox(0.1, 0.3, 0.25, 0.35)]


def test_a_single_cjk_character_matches_where_a_bigram_starts_with_it() -> None:
    assert matched_spans("本の本", "本", "ja") == [(0, 1)]  # not the run's last character
    assert matched_spans("本", "本", "ja") == [(0, 1)]


def test_normalised_characters_keep_their_place() -> None:
    text, boxes = layout("a ﬁle ﬁnder", "the finder", "ｆｕｌｌ width finder")  # NFKC changes these
    found = highlight(text, boxes, "finder", "en")
    assert found == [box_of(text, boxes, w, last=w == "finder") for w in ("ﬁnder", "finder\n", "finder")]
    assert highlight(text, boxes, "full", "en") == [box_of(text, boxes, "ｆｕｌｌ")]


def test_the_count_is_bounded_and_boxes_are_rounded_fractions() -> None:
    text, boxes = layout(*(["library books"] * 60))
    found = highlight(text, boxes, "library", "en")
    assert len(found) == MAX_HIGHLIGHTS and found[0] == box_of(text, boxes, "library")
    assert len(highlight(text, boxes, "library", "en", limit=3)) == 3
    odd = [WordBox(0, 4, 1 / 3, -0.01, 2 / 3, 1.2)]
    assert highlight("word", odd, "word") == [HighlightBox(0.3333, 0.0, 0.6667, 1.0)]


@pytest.mark.parametrize("query", ["", "   ", "zzz", '"unbalanced', "AND OR", "*", "😀"])
def test_no_match_and_odd_queries_give_no_boxes(query: str) -> None:
    text, boxes = layout("some plain text")
    assert highlight(text, boxes, query, "en") == []
    assert highlight("", [], "text") == [] and highlight(text, [], "text") == []
