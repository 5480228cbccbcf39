"""The relevance metrics of scripts/ir_metrics.py on a hand-made collection, values worked out by hand."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from tests.fixtures.required import unavailable

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


def test_cisi_records_judgments_and_title_plus_abstract(tmp_path: Path) -> None:
    # CISI: field marks with trailing blanks, a `.B` year and `.K`/`.C` on some records, queries
    # with `.T`/`.A`/`.B` beside `.W`, judgments "query doc 0 0.000000" with padding and tabs
    (tmp_path / "CISI.ALL").write_text(
        ".I 1\n.T \nBook Availability\n.A\nBuckland, M.K.\n.B\n1970\n.W\n  Logistics of\nlibrary books.\n"
        ".K \ntext searching\n.C \n3.42\n.X\n1\t5\t1\n.I 2\n.T\nProject Hindsight\n.A\nX\n.W\nA study.\n.X\n2\t1\t2\n"
    )
    (tmp_path / "CISI.QRY").write_text(
        ".I 1\n.T\nProblems\n.A\nSomeone\n.W\nWhat   problems\narise?\n.B\nref\n.I 2\n.W\nUnjudged.\n"
    )
    (tmp_path / "CISI.REL").write_text("     1      1\t0\t0.000000\n     1      2\t0\t0.000000\n")
    col = m.read_cisi(tmp_path)
    assert col.docs == {
        "1": "Book Availability\n\nLogistics of\nlibrary books.",
        "2": "Project Hindsight\n\nA study.",
    }
    assert col.queries == {"1": "What problems arise?"}  # `.W` only, whitespace folded; query 2 unjudged
    assert col.qrels == {"1": {"1", "2"}}


def test_med_crlf_padded_lines_and_judgments_with_a_zero_column(tmp_path: Path) -> None:
    pad = " " * 20
    (tmp_path / "MED.ALL").write_bytes(
        f".I 1\r\n.W\r\ncorrelation between maternal{pad}\r\nand fetal plasma .{pad}\r\n"
        f".I 2\r\n.W\r\nfine structure of phage .{pad}\r\n".encode()
    )
    (tmp_path / "MED.QRY").write_bytes(
        b".I 1\r\n.W\r\nthe crystalline lens in vertebrates\r\n.I 2\r\n.W\r\nautism.\r\n"
    )
    (tmp_path / "MED.REL").write_text("1 0 2 1\n2 0 1 1\n2 0 2 1\n")
    col = m.read_med(tmp_path)
    assert col.docs == {
        "1": "correlation between maternal\nand fetal plasma .",
        "2": "fine structure of phage .",
    }
    assert col.queries == {"1": "the crystalline lens in vertebrates", "2": "autism."}
    assert col.qrels == {"1": {"2"}, "2": {"1", "2"}}  # the document is the third column, not the `0`


def test_cacm_fields_unjudged_queries_and_zero_padded_ids(tmp_path: Path) -> None:
    (tmp_path / "cacm.all").write_text(
        ".I 1\n.T\nPreliminary Report\n.B\nCACM December, 1958\n.A\nPerlis, A. J.\n.N\nCA581203 JB\n"
        ".X\n100\t5\t1\n.I 12\n.T\nA Sorting Procedure\n.W\nA method is given.\n.B\nCACM 1962\n"
        ".K\nsorting\n.C\n4.11\n.N\nCA620101 JB\n.X\n12\t5\t12\n"
    )
    (tmp_path / "query.text").write_text(
        ".I 1\n.W\n What articles deal with TSS?\n.N\n 1. Richard Alexander\n \n"
        ".I 2\n.W\n Articles by Prieve\n.A\nPrieve, B.\n.N\n 2. Alexander\n"
    )
    (tmp_path / "qrels.text").write_text("01 0012  0 0\n01 0001  0 0\n")
    col = m.read_cacm(tmp_path)
    # title + abstract only: issue, authors, record number, citations, keywords and categories left out
    assert col.docs == {"1": "Preliminary Report", "12": "A Sorting Procedure\n\nA method is given."}
    assert col.queries == {"1": "What articles deal with TSS?"}  # query 2 has no judgments
    assert col.qrels == {"1": {"1", "12"}}


def test_judgments_naming_a_missing_document_or_query_are_refused() -> None:
    records = {"1": {"W": "text"}}
    with pytest.raises(ValueError, match="documents"):
        m.make_collection("t", records, {"1": {"W": "q"}}, {"1": {"2"}})
    with pytest.raises(ValueError, match="queries"):
        m.make_collection("t", records, {"1": {"T": "no text"}}, {"1": {"1"}})


IR_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ir"


@pytest.mark.parametrize(
    ("name", "docs", "judged", "pairs"),
    [("cisi", 1460, 76, 3114), ("med", 1033, 30, 696), ("cacm", 3204, 52, 796)],
)
def test_the_shared_collections_read_as_their_sources_describe(
    name: str, docs: int, judged: int, pairs: int
) -> None:
    # counts from ../shared/data/ir/SOURCES.md (CISI's pairs counted in CISI.REL: every line one pair)
    folder = IR_DATA / name
    if not folder.is_dir():
        unavailable("CORPUS", f"test collection not found at {folder}")
    col = m.COLLECTIONS[name](folder)
    assert len(col.docs) == docs
    assert all(col.docs.values())  # every document has text to index
    assert set(col.docs) == {str(i) for i in range(1, docs + 1)}  # ids 1..N, no gaps
    assert len(col.queries) == len(col.qrels) == judged
    assert sum(len(rel) for rel in col.qrels.values()) == pairs
