"""Relevance metrics with binary judgments, and readers for the classic test collections
(CISI, MED, CACM: SMART-format records, judgments one pair a line).

Metrics follow trec_eval's definitions: nDCG@k with gain 1 per relevant document and a log2
discount, the ideal ranking being every relevant document first; recall@k over all judged
relevant documents; average precision over the ranking given (its depth bounds MAP), divided by
the number of relevant documents, so relevant documents never retrieved count as zeros."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def ndcg_at(ranking: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, doc in enumerate(ranking[:k]) if doc in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal


def recall_at(ranking: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    return len(set(ranking[:k]) & relevant) / len(relevant)


def average_precision(ranking: Sequence[str], relevant: set[str]) -> float:
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    seen: set[str] = set()
    for i, doc in enumerate(ranking, start=1):
        if doc in relevant and doc not in seen:
            found += 1
            total += found / i
        seen.add(doc)
    return total / len(relevant)


@dataclass(frozen=True)
class Scores:
    ndcg10: float
    recall50: float
    recall100: float
    map: float

    def ratio(self, other: Scores) -> Scores:
        """Each metric divided by the other's (0 where the other is 0)."""

        def div(a: float, b: float) -> float:
            return a / b if b else 0.0

        return Scores(
            div(self.ndcg10, other.ndcg10),
            div(self.recall50, other.recall50),
            div(self.recall100, other.recall100),
            div(self.map, other.map),
        )


def evaluate(runs: Mapping[str, Sequence[str]], qrels: Mapping[str, set[str]]) -> Scores:
    """Mean scores over the judged queries (a judged query missing from `runs` scores 0)."""
    judged = [q for q, rel in qrels.items() if rel]
    if not judged:
        raise ValueError("no judged queries")

    def mean(values: Iterable[float]) -> float:
        return sum(values) / len(judged)

    return Scores(
        ndcg10=mean(ndcg_at(runs.get(q, []), qrels[q], 10) for q in judged),
        recall50=mean(recall_at(runs.get(q, []), qrels[q], 50) for q in judged),
        recall100=mean(recall_at(runs.get(q, []), qrels[q], 100) for q in judged),
        map=mean(average_precision(runs.get(q, []), qrels[q]) for q in judged),
    )


# -- SMART format -----------------------------------------------------------------------------

_RECORD = re.compile(r"^\.I\s+(\S+)\s*$", re.MULTILINE)
_FIELD = re.compile(r"^\.([A-Z])\s*$", re.MULTILINE)
_PADDING = re.compile(r"[ \t]+$", re.MULTILINE)


def canonical_id(raw: str) -> str:
    """A record id as one spelling: CACM's judgments pad ids with zeros ("01", "0012")."""
    return (raw.lstrip("0") or "0") if raw.isdigit() else raw


def read_smart(path: Path) -> dict[str, dict[str, str]]:
    """Records of a SMART file: {id: {field letter: text}} (`.I id`, then `.T`, `.W`, … fields).

    Line endings are read as newlines (MED's files end lines with CRLF) and spaces ending a line
    are dropped (MED pads its lines to 72 columns; CISI's field marks carry trailing blanks)."""
    text = _PADDING.sub("", path.read_text(encoding="utf-8", errors="replace"))
    starts = list(_RECORD.finditer(text))
    records: dict[str, dict[str, str]] = {}
    for n, match in enumerate(starts):
        body = text[match.end() : starts[n + 1].start() if n + 1 < len(starts) else len(text)]
        fields: dict[str, str] = {}
        marks = list(_FIELD.finditer(body))
        for m, mark in enumerate(marks):
            end = marks[m + 1].start() if m + 1 < len(marks) else len(body)
            fields[mark.group(1)] = body[mark.end() : end].strip()
        key = canonical_id(match.group(1))
        if key in records:
            raise ValueError(f"{path}: record {key} appears twice")
        records[key] = fields
    return records


def read_qrels(path: Path, doc_column: int = 1) -> dict[str, set[str]]:
    """Judgment lines, every listed pair relevant: {query id: relevant doc ids}. The query id is
    the first column, the document id `doc_column` (CISI, CACM: 1; MED: 2, after a `0`)."""
    qrels: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) > doc_column:
            qrels.setdefault(canonical_id(parts[0]), set()).add(canonical_id(parts[doc_column]))
    return qrels


# -- test collections ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Collection:
    name: str
    docs: dict[str, str]  # id -> text as indexed: title, blank line, abstract
    queries: dict[str, str]  # judged queries only, whitespace folded
    qrels: dict[str, set[str]]  # judged queries only


def make_collection(
    name: str, records: Mapping[str, Mapping[str, str]], queries: Mapping[str, Mapping[str, str]],
    qrels: Mapping[str, set[str]],
) -> Collection:  # fmt: skip
    """Documents as title + abstract (`.T`, `.W`; authors, dates, citations and keywords are left
    out), queries as their `.W` text, both restricted to what the judgments can score: queries
    without judgments are dropped. A judgment naming a missing query or document is an error."""
    docs = {i: "\n\n".join(f for f in (r.get("T", ""), r.get("W", "")) if f) for i, r in records.items()}
    judged = {q: rel for q, rel in qrels.items() if rel}
    missing_queries = sorted(set(judged) - {q for q, r in queries.items() if r.get("W", "").strip()})
    missing_docs = sorted(set().union(*judged.values()) - set(docs)) if judged else []
    if missing_queries or missing_docs:
        raise ValueError(
            f"{name}: judgments name queries {missing_queries[:5]} or documents {missing_docs[:5]} that "
            "are missing or have no text"
        )
    texts = {q: " ".join(queries[q]["W"].split()) for q in judged}
    return Collection(name, docs, texts, dict(judged))


def read_cisi(folder: Path) -> Collection:
    """`CISI.ALL`, `CISI.QRY`, `CISI.REL` (query, document, two unused columns)."""
    qrels = read_qrels(folder / "CISI.REL")
    return make_collection("cisi", read_smart(folder / "CISI.ALL"), read_smart(folder / "CISI.QRY"), qrels)


def read_med(folder: Path) -> Collection:
    """`MED.ALL` (title and abstract in one `.W`), `MED.QRY`, `MED.REL` (query, `0`, document, `1`)."""
    qrels = read_qrels(folder / "MED.REL", doc_column=2)
    return make_collection("med", read_smart(folder / "MED.ALL"), read_smart(folder / "MED.QRY"), qrels)


def read_cacm(folder: Path) -> Collection:
    """`cacm.all` (half the articles have only a title), `query.text`, `qrels.text` (zero-padded
    ids); the queries without judgments are dropped."""
    qrels = read_qrels(folder / "qrels.text")
    return make_collection("cacm", read_smart(folder / "cacm.all"), read_smart(folder / "query.text"), qrels)


# Each collection's reader, given its folder (named as the key) under the data folder.
COLLECTIONS: dict[str, Callable[[Path], Collection]] = {"cisi": read_cisi, "med": read_med, "cacm": read_cacm}
