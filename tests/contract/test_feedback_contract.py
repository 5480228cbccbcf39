"""Pseudo-relevance feedback (docstore.feedback): both stores expand a BM25 query from its best
pages, the same way, and only from pages the caller may see."""

from __future__ import annotations

from docstore.protocol import Store
from tests.contract.helpers import add, ids, page


def test_feedback_finds_a_page_without_the_query_word(store: Store) -> None:
    add(
        store,
        [
            page("a", 1, "lung carcinoma seen in a pulmonary biopsy"),
            page("b", 1, "lung carcinoma and the pulmonary biopsy results"),
            page("c", 1, "biopsy of the lung shows carcinoma"),
            page("other-word", 1, "pulmonary carcinoma confirmed by biopsy"),
            page("off-topic", 1, "kidney transplant and dialysis"),
        ],
    )
    plain = ids(store, "lung")
    assert sorted(plain) == ["a:1", "b:1", "c:1"]
    expanded = ids(store, "lung", feedback=True)
    # the pages with the query's word stay first; the one that says it with other words follows
    assert sorted(expanded[:3]) == ["a:1", "b:1", "c:1"]
    assert expanded[3:] == ["other-word:1"]


def test_feedback_takes_terms_only_from_pages_the_caller_may_see(store: Store) -> None:
    add(
        store,
        [
            page("public", 1, "lung carcinoma"),
            page("restricted", 1, "lung salary review", acl=["hr"]),
            page("pay", 1, "salary bands"),
        ],
    )
    # the restricted page would bring "salary" into the query: for a caller outside its group it
    # is neither found nor read for feedback
    assert ids(store, "lung", feedback=True, filters={"groups": []}) == ["public:1"]
    assert "pay:1" in ids(store, "lung", feedback=True, filters={"groups": ["hr"]})


def test_feedback_without_matches_finds_nothing(store: Store) -> None:
    add(store, [page("a", 1, "lung carcinoma")])
    assert ids(store, "zebra", feedback=True) == []
