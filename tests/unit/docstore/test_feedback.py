"""docstore.feedback's expansion: RM3's weights from the first pass's best pages."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from docstore import analysis, feedback
from docstore.feedback import FeedbackPage, expansion
from docstore.schema import SearchMode, SearchRequest


def test_weights_follow_page_shares_and_sum_to_the_feedback_weight() -> None:
    pages = [
        FeedbackPage("", "glacier glacier melt", "en", 3.0),
        FeedbackPage("", "glacier tourism", "en", 1.0),
    ]
    terms = expansion(pages, "glacier retreat", ["en"])
    # glacier: 3/4 x 2/3 + 1/4 x 1/2; melt: 3/4 x 1/3; tourism: 1/4 x 1/2
    raw = {"glacier": 0.5 + 0.125, "melt": 0.25, "tourism": 0.125}
    scale = feedback.WEIGHT * analysis.STEM_WEIGHT * 2 / sum(raw.values())  # two query stems
    assert terms == pytest.approx({stem: w * scale for stem, w in raw.items()})
    assert list(terms) == ["glacier", "melt", "tourism"]  # heaviest first


def test_only_the_best_pages_and_the_heaviest_stems_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feedback, "DOCS", 1)
    monkeypatch.setattr(feedback, "TERMS", 2)
    pages = [
        FeedbackPage("", "alpha alpha alpha beta beta gamma", "en", 2.0),
        FeedbackPage("", "delta", "en", 1.0),
    ]
    assert list(expansion(pages, "alpha", ["en"])) == ["alpha", "beta"]


def test_pages_without_a_stemmer_or_a_score_give_no_terms() -> None:
    pages = [
        FeedbackPage("", "lungs and more lungs", "", 5.0),  # no detected language: words unstemmed
        FeedbackPage("", "carcinoma", "en", 0.0),
    ]
    assert expansion(pages, "lung", ["en", ""]) == {}
    assert expansion([], "lung", ["en"]) == {}


def test_feedback_is_a_bm25_option() -> None:
    assert SearchRequest(query="x", mode=SearchMode.bm25, feedback=True).feedback
    with pytest.raises(ValidationError, match="feedback applies to the bm25 mode, not knn"):
        SearchRequest(query="x", mode=SearchMode.knn, feedback=True)
