"""Relevance metrics with binary judgments, and a reader for SMART-format test collections.

Metrics follow trec_eval's definitions: nDCG@k with gain 1 per relevant document and a log2
discount, the ideal ranking being every relevant document first; recall@k over all judged
relevant documents; average precision over the ranking given (its depth bounds MAP), divided by
the number of relevant documents, so relevant documents never retrieved count as zeros."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
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


def read_smart(path: Path) -> dict[str, dict[str, str]]:
    """Records of a SMART file: {id: {field letter: text}} (`.I id`, then `.T`, `.W`, … fields)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    starts = list(_RECORD.finditer(text))
    records: dict[str, dict[str, str]] = {}
    for n, match in enumerate(starts):
        body = text[match.end() : starts[n + 1].start() if n + 1 < len(starts) else len(text)]
        fields: dict[str, str] = {}
        marks = list(_FIELD.finditer(body))
        for m, mark in enumerate(marks):
            end = marks[m + 1].start() if m + 1 < len(marks) else len(body)
            fields[mark.group(1)] = body[mark.end() : end].strip()
        records[match.group(1)] = fields
    return records


def read_qrels(path: Path) -> dict[str, set[str]]:
    """`query doc …` lines (every listed pair relevant): {query id: relevant doc ids}."""
    qrels: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            qrels.setdefault(parts[0], set()).add(parts[1])
    return qrels
