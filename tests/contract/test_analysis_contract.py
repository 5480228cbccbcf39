"""Language-aware BM25 (docstore.analysis): both stores stem each page in its own language, leave
stop words out of the stemmed field, analyse queries to match, and rank alike."""

from __future__ import annotations

from docstore.protocol import Store
from tests.contract.helpers import add, ids, page


def test_stems_match_and_exact_forms_outrank_them(store: Store) -> None:
    add(
        store,
        [
            page("exact", 1, "the panels on the roof"),
            page("stem", 1, "a panel of experts met"),
            page("other", 1, "wind turbines"),
        ],
    )
    assert ids(store, "panels") == ["exact:1", "stem:1"]
    assert ids(store, "panel") == ["stem:1", "exact:1"]
    assert ids(store, "converting panels") == ["exact:1", "stem:1"]


def test_each_page_is_stemmed_in_its_own_language(store: Store) -> None:
    add(
        store,
        [
            page("de", 1, "Die Häuser der Stadt", language="de"),
            page("en", 1, "houses of the city", language="en"),
        ],
    )
    assert ids(store, "Haus") == ["de:1"]  # German Snowball: häuser -> haus
    assert ids(store, "house") == ["en:1"]


def test_stop_words_do_not_rank_but_a_query_of_stop_words_still_finds(store: Store) -> None:
    add(
        store,
        [
            page("many", 1, "the and of the the to the in the library"),
            page("topic", 1, "library catalogues and classification"),
            page("none", 1, "museum archives"),
        ],
    )
    # "the" is not counted for ranking: the page about the topic wins over the one full of "the"
    assert ids(store, "the classification of the library")[0] == "topic:1"
    assert ids(store, "to be or not to the") == ["many:1"]


def test_query_terms_repeated_weigh_more(store: Store) -> None:
    add(
        store,
        [
            page("a", 1, "indexing theory"),
            page("b", 1, "retrieval theory"),
        ],
    )
    assert ids(store, "retrieval indexing retrieval")[0] == "b:1"
    assert ids(store, "indexing retrieval indexing")[0] == "a:1"


def test_lone_letters_are_searched_exactly_not_stemmed(store: Store) -> None:
    add(
        store,
        [
            page("letter", 1, "vitamin c and health"),
            page("plain", 1, "vitamin and health"),
            page("possessive", 1, "the library's s-curve"),
        ],
    )
    # "c" still finds and ranks on the exact field; the stemmed field holds no lone letters
    assert ids(store, "vitamin c") == ["letter:1", "plain:1"]
    assert ids(store, "s") == ["possessive:1"]


def test_a_word_on_most_pages_weighs_almost_nothing(store: Store) -> None:
    # BM25's IDF as FTS5 computes it, ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6, on both stores:
    # Lucene's own adds 1 inside the logarithm, and would rank the page that repeats the three
    # common words first here
    add(
        store,
        [
            page("common", 1, "library services catalog library services catalog"),
            page("rare", 1, "dewey notes on shelving rooms lighting heating chairs tables windows doors floors"),
            page("museum", 1, "library services catalog museum"),
            page("archive", 1, "library services catalog archive"),
            page("school", 1, "library services catalog school"),
        ],
    )
    assert ids(store, "library services catalog dewey")[0] == "rare:1"


def test_both_stores_split_words_alike(store: Store) -> None:
    # docstore.analysis splits at apostrophes and inside numbers; OpenSearch's standard tokenizer
    # alone would keep "library's" and "1.5" whole, and "library" or "5" would not find them
    add(
        store,
        [
            page("possessive", 1, "the library's catalogue"),
            page("plural", 1, "the libraries catalogue"),
            page("number", 1, "release 1.5 notes"),
        ],
    )
    assert ids(store, "library") == ["possessive:1", "plural:1"]  # the exact word outranks its stem
    assert ids(store, "5") == ["number:1"]
    assert ids(store, "release 1.5") == ["number:1"]


def test_pages_of_no_detected_language_do_not_outrank_stemmed_pages_on_rare_forms(store: Store) -> None:
    # Many English pages, a few whose language was not detected (their stemmed field keeps the
    # words as they are). The query's unstemmed form is rare in the stemmed field: it must not
    # lift those few pages over English pages that hold the same word as often.
    english = [page(f"en{n}", 1, f"computer systems and computers in libraries, report {n}") for n in range(12)]
    english.append(page("match", 1, "computing services for the university libraries"))
    unknown = [page(f"xx{n}", 1, f"computing services catalogue {n}", language="") for n in range(2)]
    add(store, [*english, *unknown])
    ranked = ids(store, "computing services")
    assert ranked[0] == "match:1", ranked  # same words, a stemmed page, and "for the university" is padding
    assert set(ranked[:3]) == {"match:1", "xx0:1", "xx1:1"}


def test_language_counts(store: Store) -> None:
    add(
        store,
        [
            page("a", 1, "houses", language="en"),
            page("a", 2, "cities", language="en"),
            page("b", 1, "Häuser", language="de", collection="other"),
            page("c", 1, "x", language=""),
        ],
    )
    from docstore.schema import Filters

    assert store.language_counts() == {"en": 2, "de": 1, "": 1}
    assert store.language_counts(Filters(collection="other")) == {"de": 1}
    assert store.language_counts(Filters(collection="none")) == {}
