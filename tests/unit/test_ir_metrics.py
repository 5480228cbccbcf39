"""The relevance metrics of scripts/ir_metrics.py on a hand-made collection, values worked out by hand."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ir_metrics as m  # noqa: E402


def test_ndcg_binary_gains_and_ideal_ranking() -> None:
    # relevant at ranks 1 and 3 of 2 relevant: (1 + 1/log2 4) / (1 + 1/log2 3)
    assert m.ndcg_at(["a", "x", "b"], {"a", "b"}, 10) == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))
    assert m.ndcg_at(["a", "b"], {"a", "b"}, 10) == pytest.approx(1.0)
    assert m.ndcg_at(["x", "a"], {"a"}, 1) == 0.0
    # more relevant documents than k: the ideal is k hits
    assert m.ndcg_at(["a"], {"a", "b", "c"}, 1) == pytest.approx(1.0)


def test_recall_and_average_precision() -> None:
    ranking = ["a", "x", "b", "y", "z"]
    relevant = {"a", "b", "c", "d"}
    assert m.recall_at(ranking, relevant, 1) == pytest.approx(0.25)
    assert m.recall_at(ranking, relevant, 5) == pytest.approx(0.5)
    # precision at each relevant hit: 1/1 and 2/3; divided by all 4 relevant documents
    assert m.average_precision(ranking, relevant) == pytest.approx((1 + 2 / 3) / 4)
    assert m.average_precision(["a", "a"], {"a"}) == pytest.approx(1.0)  # a duplicate counts once


def test_evaluate_means_over_judged_queries_and_missing_runs_score_zero() -> None:
    qrels = {"1": {"a"}, "2": {"b", "c"}, "3": set()}  # query 3 has no judgments: left out
    runs = {"1": ["a", "b"], "3": ["a"]}  # query 2 returned nothing
    scores = m.evaluate(runs, qrels)
    assert scores.ndcg10 == pytest.approx(0.5)
    assert scores.recall50 == pytest.approx(0.5)
    assert scores.map == pytest.approx(0.5)
    assert scores.ratio(m.Scores(0.25, 1.0, 0.5, 0.0)) == m.Scores(2.0, 0.5, 1.0, 0.0)


def test_smart_files_are_read(tmp_path: Path) -> None:
    docs = tmp_path / "T.ALL"
    docs.write_text(
        ".I 1\n.T\nA title\n.A\nSomeone\n.W\nfirst line\nsecond line\n.X\n1 1 1\n.I 2\n.W\nonly text\n"
    )
    records = m.read_smart(docs)
    assert records["1"] == {"T": "A title", "A": "Someone", "W": "first line\nsecond line", "X": "1 1 1"}
    assert records["2"] == {"W": "only text"}
    rel = tmp_path / "T.REL"
    rel.write_text("     1     28\t0\t0.000000\n1 35 0 0\n2 7 0 0\n")
    assert m.read_qrels(rel) == {"1": {"28", "35"}, "2": {"7"}}
