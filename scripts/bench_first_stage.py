#!/usr/bin/env python3
"""First-stage latency: p50/p95 of BM25, kNN and hybrid search on synthetic pages, beside raw
baselines measured in the same run (a raw tantivy top-50 query; exact numpy kNN over the same
vectors). Prints a table, makes it the first stage's current table in BENCHMARKS.md and appends it
to docs/benchmarks-history.md.

    .venv/bin/python scripts/bench_first_stage.py --sizes 10000 100000
    .venv/bin/python scripts/bench_first_stage.py --sizes 10000 --opensearch http://127.0.0.1:9250

On a node with the neural-search plugin (`scripts/opensearch-local start --plugins ml`) the
OpenSearch backend also gets a `hybrid-native` row: OpenSearch's own `hybrid` query fused by its
RRF processor (a search pipeline), on the same index and queries as Folio's `_msearch` fusion.

Vectors (`--vectors`): `topics` (the default) gives pages the shape of text embeddings, near one
of TOPICS topic directions, pages of a document near each other, and queries near a topic; the
kNN row states its recall@10 against the exact search over the same vectors. `uniform` draws
every page and query independently and uniformly on the sphere: no page is much nearer a query
than the rest, so no graph index (HNSW) finds the exact top 10 without scanning most pages;
it measures the exact scan only.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchlib import record  # noqa: E402

from docstore.protocol import Store  # noqa: E402
from docstore.schema import Page, SearchMode, SearchRequest, page_id  # noqa: E402

VOCAB = 30_000
WORDS_PER_PAGE = 150
CHUNK = 2_000
TOPICS = 1_000
# topics vectors: page = topic + DOC_SPREAD * document direction + PAGE_SPREAD * page direction
DOC_SPREAD, PAGE_SPREAD = 0.7, 0.35


def vocabulary(rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=int(rng.integers(3, 10)))) + str(i % 7) for i in range(VOCAB)]


def zipf_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.minimum(rng.zipf(1.2, size=n), VOCAB) - 1


def unit_rows(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def topic_vectors(rng: np.random.Generator, topics: np.ndarray, count: int, per_doc: int) -> np.ndarray:
    """`count` unit vectors, `per_doc` in a row sharing a topic and a document direction."""
    docs = -(-count // per_doc)
    centre = topics[rng.integers(0, len(topics), docs)] + DOC_SPREAD * unit_rows(rng, docs, topics.shape[1])
    rows = np.repeat(centre, per_doc, axis=0)[:count] + PAGE_SPREAD * unit_rows(rng, count, topics.shape[1])
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def query_vectors(kind: str, count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return unit_rows(rng, count, dim)
    return topic_vectors(rng, unit_rows(np.random.default_rng(1), TOPICS, dim), count, per_doc=1)


def synthetic_pages(
    n: int, dim: int, seed: int, kind: str = "topics", language: str = ""
) -> Iterator[tuple[list[Page], np.ndarray]]:
    rng = np.random.default_rng(seed)
    words = vocabulary(np.random.default_rng(0))
    topics = unit_rows(np.random.default_rng(1), TOPICS, dim)
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        if kind == "uniform":
            vectors = unit_rows(rng, count, dim)
        else:  # CHUNK is a multiple of 10: documents never straddle chunks
            vectors = topic_vectors(rng, topics, count, per_doc=10)
        pages = []
        for i in range(count):
            doc = f"doc{(start + i) // 10}"
            text = " ".join(words[j] for j in zipf_ids(rng, WORDS_PER_PAGE))
            pages.append(
                Page(
                    page_id=page_id(doc, (start + i) % 10 + 1),
                    doc_id=doc,
                    collection=f"c{(start + i) % 4}",
                    source=f"/bench/{doc}.pdf",
                    content_hash="h",
                    page_number=(start + i) % 10 + 1,
                    page_count=10,
                    title=" ".join(words[j] for j in zipf_ids(rng, 4)),
                    text=text,
                    language=language,
                    embedding=vectors[i].tolist(),
                    acl=["staff"] if (start + i) % 5 == 0 else [],
                )  # fmt: skip
            )
        yield pages, vectors


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def timed(fn: Callable[[], object], runs: list[object]) -> list[float]:
    out = []
    for arg in runs:
        t0 = time.perf_counter()
        fn(arg)  # type: ignore[call-arg]
        out.append(time.perf_counter() - t0)
    return out


def bench_store(
    store: Store, queries: list[str], vectors: np.ndarray, top_k: int
) -> dict[str, tuple[float, float, float]]:
    """Per mode: p50 and p95 of the search the API's first stage makes (hits without snippets:
    it makes snippets for the few hits it returns, after reranking), and p50 of the same
    search with a snippet per hit (what `folio search` asks for). `bm25+feedback`: the bm25 mode
    with pseudo-relevance feedback (docstore.feedback)."""
    results = {}
    passes = [(m.value, m, False) for m in (SearchMode.bm25, SearchMode.knn, SearchMode.hybrid)]
    for name, mode, feedback in [*passes, ("bm25+feedback", SearchMode.bm25, True)]:
        runs = {}
        for snippets in (False, True):
            reqs = [
                SearchRequest(
                    query=q,
                    vector=None if feedback else v.tolist(),
                    mode=mode,
                    top_k=top_k,
                    snippets=snippets,
                    feedback=feedback,
                )
                for q, v in zip(queries, vectors, strict=True)
            ]
            for req in reqs[:5]:  # warm caches (the kNN matrix loads on first use)
                store.search(req)
            runs[snippets] = percentiles(timed(store.search, reqs))  # type: ignore[arg-type]
        results[name] = (*runs[False], runs[True][0])
    return results


def bm25_similarities(store: Store, queries: list[str], top_k: int) -> dict[str, tuple[float, float]]:
    """(p50, p95) of the bm25 mode under Folio's `folio_bm25` similarity (docstore.opensearch.queries)
    and under Lucene's own BM25, its baseline, on the same OpenSearch index. Both score from the same
    postings and norms, so the index is closed, given the other similarity and reopened; the sides
    take turns (Lucene, Folio, Folio, Lucene), each after the same reopen and warm-up, and each
    figure is the median of its two passes. The index ends with Folio's similarity."""
    from docstore.opensearch import queries as q

    client = store.client  # type: ignore[attr-defined]
    index = store.pages_index  # type: ignore[attr-defined]
    scripted = q.bm25_similarity()
    settings = {
        "lucene": {"type": "BM25", "weight_script.source": None, "script.source": None},
        "folio": {"type": "scripted", "weight_script.source": scripted["weight_script"]["source"],
                  "script.source": scripted["script"]["source"]},
    }  # fmt: skip
    reqs = [SearchRequest(query=t, mode=SearchMode.bm25, top_k=top_k, snippets=False) for t in queries]
    passes: dict[str, list[tuple[float, float]]] = {"lucene": [], "folio": []}
    try:
        for side in ("lucene", "folio", "folio", "lucene"):
            client.indices.close(index=index)
            body = {f"index.similarity.default.{k}": v for k, v in settings[side].items()}
            client.indices.put_settings(index=index, body=body)
            client.indices.open(index=index)
            client.cluster.health(index=index, wait_for_status="yellow", request_timeout=120)
            for req in reqs[:5]:
                store.search(req)
            passes[side].append(percentiles(timed(store.search, reqs)))  # type: ignore[arg-type]
    finally:
        if passes["lucene"] and len(passes["folio"]) < 2:  # stopped midway on Lucene's: set Folio's back
            client.indices.close(index=index)
            body = {f"index.similarity.default.{k}": v for k, v in settings["folio"].items()}
            client.indices.put_settings(index=index, body=body)
            client.indices.open(index=index)
    return {
        side: (statistics.median(p[0] for p in got), statistics.median(p[1] for p in got))
        for side, got in passes.items()
    }


NATIVE_PIPELINE = "folio-bench-rrf"


def native_hybrid(
    store: Store, queries: list[str], vectors: np.ndarray, top_k: int
) -> tuple[tuple[float, float, float], float] | None:
    """OpenSearch's `hybrid` query (the same BM25 and kNN queries, as deep as Folio's fusion goes)
    through a pipeline with neural-search's RRF processor, hits parsed as Folio's are: (p50, p95,
    p50 with snippets) and the mean share of its top-k that Folio's hybrid also returns. None when
    the node has no neural-search plugin."""
    from opensearchpy import TransportError

    from docstore.fusion import fusion_depth
    from docstore.opensearch import queries as q
    from docstore.opensearch import search as s
    from docstore.opensearch.ml_reranker import rrf_processor
    from docstore.opensearch.records import hits_from

    client = store.client  # type: ignore[attr-defined]
    index = store.pages_index  # type: ignore[attr-defined]
    try:
        major = int(str(client.info()["version"]["number"]).split(".")[0])
        body = {"phase_results_processors": [rrf_processor(major)]}
        client.transport.perform_request("PUT", f"/_search/pipeline/{NATIVE_PIPELINE}", body=body)
    except TransportError as exc:
        print(f"hybrid-native: skipped, the node has no neural-search plugin ({exc.error})", file=sys.stderr)
        return None
    languages = store._index_languages()  # type: ignore[attr-defined]
    depth = fusion_depth(top_k)

    def search(req: SearchRequest) -> list[object]:
        bm25 = q.build_bm25_query(req.query, None, size=depth, languages=languages)["query"]
        knn = q.build_knn_query(req.vector or [], depth)["query"]
        body = {
            "size": top_k,
            "track_total_hits": False,
            "query": {"hybrid": {"queries": [bm25, knn], "pagination_depth": depth}},
        }
        # No shard request cache: 2.19's hybrid query fails when served from it (a null hit in the RRF step).
        params = {**s.search_params(req, req.query), "search_pipeline": NATIVE_PIPELINE}
        del params["request_cache"]
        result = client.search(index=index, body=body, params=params)
        scored = [(h["_source"], float(h["_score"])) for h in s.hits_of(result)]
        return hits_from(scored, req)  # type: ignore[return-value]

    try:
        runs = {}
        for snippets in (False, True):
            reqs = [
                SearchRequest(
                    query=qt, vector=v.tolist(), mode=SearchMode.hybrid, top_k=top_k, snippets=snippets
                )
                for qt, v in zip(queries, vectors, strict=True)
            ]
            for req in reqs[:5]:
                search(req)
            runs[snippets] = percentiles(timed(search, reqs))  # type: ignore[arg-type]

        def ids(hits: list[Any]) -> set[str]:
            return {h.page.page_id for h in hits}

        overlap = [len(ids(search(r)) & ids(store.search(r))) / top_k for r in reqs]
    finally:
        client.transport.perform_request("DELETE", f"/_search/pipeline/{NATIVE_PIPELINE}")
    return (*runs[False], runs[True][0]), statistics.mean(overlap)


def sqlite_baselines(
    path: Path, queries: list[str], vectors: np.ndarray, matrix: np.ndarray
) -> dict[str, tuple[float, float]]:
    """Raw engine queries on the same data: tantivy's top 50 for the query words on the exact field
    of the store's own BM25 index (no stems, filters or IDF boosts), and exact numpy kNN."""
    import tantivy

    from docstore.sqlite.lexical_index import SCHEMA

    index = tantivy.Index.open(str(path.with_name(path.name + ".bm25")))

    def bm25(words: list[str]) -> list[object]:
        should = [(tantivy.Occur.Should, tantivy.Query.term_query(SCHEMA, "exact", w)) for w in words]
        return list(index.searcher().search(tantivy.Query.boolean_query(should), limit=50, count=False).hits)

    matches = [q.lower().split() for q in queries]
    for m in matches[:5]:
        bm25(m)
    fts = percentiles(timed(bm25, matches))  # type: ignore[arg-type]

    def knn(v: np.ndarray) -> np.ndarray:
        scores = matrix @ v
        return np.argpartition(-scores, 50)[:50]

    return {"bm25": fts, "knn": percentiles(timed(knn, list(vectors)))}  # type: ignore[arg-type]


def knn_recall(store: Store, vectors: np.ndarray, matrix: np.ndarray, top_k: int) -> float:
    """Mean share of the exact top-k (numpy over the same vectors) among the store's kNN top-k;
    row j of `matrix` is page j as `synthetic_pages` makes it."""
    found = []
    for v in vectors:
        scores = matrix @ v
        best = np.argpartition(-scores, top_k)[:top_k]
        exact = {page_id(f"doc{j // 10}", j % 10 + 1) for j in best.tolist()}
        hits = store.search(
            SearchRequest(vector=v.tolist(), mode=SearchMode.knn, top_k=top_k, snippets=False)
        )
        found.append(len(exact & {h.page.page_id for h in hits}) / top_k)
    return float(np.mean(found))


def knn_memory(store: Store) -> str:
    """The SQLite kNN index's resident memory: the HNSW graph (and its file), or the exact scan's
    matrices (float32, plus the int8 scan copy when built)."""
    from docstore.sqlite.hnsw import HnswIndex

    index = store._vector_index(store._conn(create=False))  # type: ignore[attr-defined]
    if index is None:
        return ""
    if isinstance(index, HnswIndex):
        parts = store.storage()
        graph = sum(size for name, size in parts.items() if name.endswith(".hnsw"))
        bm25 = sum(size for name, size in parts.items() if name.endswith(".bm25"))
        return (
            f"kNN: HNSW graph {index.graph.memory_usage / 1e6:.0f} MB in RAM, {graph / 1e6:.0f} MB file; "
            f"BM25 index {bm25 / 1e6:.0f} MB on disk"
        )
    extra = f" + int8 {index.quantized.nbytes / 1e6:.0f} MB" if index.quantized is not None else ""
    return f"kNN RAM: float32 {index.matrix.nbytes / 1e6:.0f} MB{extra}"


def settle(store: Store, force: bool) -> None:
    """After an OpenSearch fill: merge the pages index to one segment (force), or wait until the
    engine's own merges are done; then refresh."""
    client = store.client  # type: ignore[attr-defined]
    index = store.pages_index  # type: ignore[attr-defined]
    if force:
        client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=3600)
    else:
        while client.indices.stats(index=index, metric="merge")["_all"]["primaries"]["merges"]["current"]:
            time.sleep(2)
    store.refresh()  # type: ignore[attr-defined]


def opensearch_resources(store: Store) -> str:
    """The node's heap and resident memory and the pages index's segments and size on disk (the
    node runs on this machine: its RSS is read from /proc)."""
    client = store.client  # type: ignore[attr-defined]
    stats = client.indices.stats(index=store.pages_index, metric="store,segments")["_all"]["primaries"]  # type: ignore[attr-defined]
    node = next(iter(client.nodes.stats(metric="jvm,process")["nodes"].values()))
    heap = node["jvm"]["mem"]
    info = next(iter(client.nodes.info(metric="process")["nodes"].values()))
    rss = ""
    status = Path(f"/proc/{info['process']['id']}/status")
    if status.exists():
        kb = next(
            int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS")
        )
        rss = f", node RSS {kb / 1e6:.1f} GB"
    return (
        f"pages index {stats['store']['size_in_bytes'] / 1e9:.2f} GB on disk in {stats['segments']['count']} "
        f"segments; heap {heap['heap_used_in_bytes'] / 1e9:.1f} of {heap['heap_max_in_bytes'] / 1e9:.1f} GB{rss}"
    )


def fill(store: Store, n: int, dim: int, kind: str, bulk_load: bool = True, language: str = "") -> np.ndarray:
    """Write n synthetic pages as `folio index --bulk-load` does (in the store's bulk-load mode),
    or without it; returns their vectors."""
    store.ensure(dim)
    chunks = []
    with store.bulk_load() if bulk_load else nullcontext():
        for pages, vectors in synthetic_pages(n, dim, seed=n, kind=kind, language=language):
            store.upsert_pages(pages)
            chunks.append(vectors)
    return np.concatenate(chunks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--backends", nargs="+", choices=["sqlite", "opensearch"], default=["sqlite"])
    ap.add_argument("--opensearch", default=None, help="OpenSearch URL (adds the opensearch backend)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument(
        "--merge",
        choices=("force", "engine"),
        default="force",
        help="OpenSearch after its fill: force-merge the pages index to one segment (default), or wait "
        "for the engine's own merges (a force merge of a very large index takes a long time)",
    )
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--vectors", choices=["topics", "uniform"], default="topics", help="see above")
    ap.add_argument(
        "--language",
        default="",
        help="the pages' language (default none: words unstemmed; 'en' stems them, and feedback expands queries)",
    )
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)"
    )
    ap.add_argument(
        "--reuse", action="store_true", help="keep a SQLite file of the right size from an earlier run"
    )
    ap.add_argument("--label", default="", help="what changed, recorded with the run")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="BENCHMARKS.md to update (default: the repository's or $FOLIO_BENCHMARKS)",
    )
    ap.add_argument("--no-record", action="store_true", help="do not update BENCHMARKS.md or its history")
    args = ap.parse_args()
    backends = list(dict.fromkeys(args.backends + (["opensearch"] if args.opensearch else [])))

    rng = np.random.default_rng(7)
    words = vocabulary(np.random.default_rng(0))
    # 2-3 terms from the mid-frequency band: common enough to match many pages
    queries = [
        " ".join(words[int(j)] for j in rng.integers(20, 2000, size=int(rng.integers(2, 4))))
        for _ in range(args.queries)
    ]
    qvecs = query_vectors(args.vectors, args.queries, args.dim, rng)

    rows: list[tuple[str, int, str, float, float, float, str, str]] = []
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="folio-bench-"))
    for n in args.sizes:
        for backend in backends:
            t0 = time.perf_counter()
            if backend == "sqlite":
                from docstore.sqlite.store import SqliteStore

                path = workdir / f"bench-{n}-{args.dim}-{args.vectors}.db"
                store: Store = SqliteStore(f"sqlite:///{path}")
                if not (args.reuse and path.exists() and store.count() == n):
                    store.close()
                    for suffix in ("", "-wal", "-shm", ".hnsw", ".hnsw.json"):
                        Path(f"{path}{suffix}").unlink(missing_ok=True)
                    store = SqliteStore(f"sqlite:///{path}")
            else:
                if not args.opensearch:
                    print("opensearch: skipped (pass --opensearch URL)", file=sys.stderr)
                    continue
                from docstore.opensearch.store import OpenSearchStore  # type: ignore[import-not-found,unused-ignore]

                # bulk load (fill), then one merge to one segment (--merge force: what a batch-indexed
                # index looks like; HNSW search cost grows per segment) or the engine's own merges
                sep = "&" if "?" in args.opensearch else "?"
                store = OpenSearchStore(f"{args.opensearch}{sep}prefix=folio-bench-{n}&refresh=false")
            if backend == "opensearch" and args.reuse and store.count() == n:
                matrix = np.zeros((n, args.dim), dtype=np.float32)  # no raw baseline for OpenSearch
            elif backend == "opensearch":
                matrix = fill(store, n, args.dim, args.vectors, language=args.language)
                settle(store, force=args.merge == "force")
            elif store.count() == n:
                with sqlite3.connect(path) as raw:
                    blobs = [r[0] for r in raw.execute("SELECT embedding FROM vectors ORDER BY rowid")]
                matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(n, args.dim)
            else:
                matrix = fill(store, n, args.dim, args.vectors, language=args.language)
            print(f"{backend} {n}: filled in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            if backend == "sqlite":  # the kNN index (the HNSW graph: built, or loaded and caught up)
                t0 = time.perf_counter()
                knn_memory(store)
                print(f"{backend} {n}: kNN index ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            measured = bench_store(store, queries, qvecs, args.top_k)
            native = native_hybrid(store, queries, qvecs, args.top_k) if backend == "opensearch" else None
            similarities = bm25_similarities(store, queries, args.top_k) if backend == "opensearch" else None
            base = sqlite_baselines(path, queries, qvecs, matrix) if backend == "sqlite" else {}
            memory = knn_memory(store) if backend == "sqlite" else ""
            filled = backend == "sqlite" or bool(matrix.any())  # OpenSearch reused: vectors not known
            recall = knn_recall(store, qvecs, matrix, args.top_k) if filled else None
            if backend == "opensearch":
                memory = opensearch_resources(store)
            for mode, (p50, p95, p50_snippets) in measured.items():
                ref = base.get(mode)
                raw = ref[0] if ref else 0.0
                name = "tantivy top-50" if mode == "bm25" else "numpy kNN"
                note = f"raw {name} p50 {raw:.2f} ms" if ref else ""
                if mode == "hybrid" and base:
                    raw = base["bm25"][0] + base["knn"][0]
                    note = f"raw tantivy + numpy p50 {raw:.2f} ms"
                if mode == "knn":
                    found = (
                        f"recall@{args.top_k} against exact search {recall:.3f}" if recall is not None else ""
                    )
                    note = "; ".join(part for part in (note, memory, found) if part)
                ratio = f"{p50 / raw:.2f}" if raw else ""
                if mode == "bm25+feedback":
                    plain = measured["bm25"]
                    ratio = ""
                    note = (f"{p50 / plain[0]:.2f}× the bm25 mode's p50, {p95 / plain[1]:.2f}× its p95 (same run): "
                            "a first BM25 search for the feedback pages, then the expanded one")  # fmt: skip
                if mode == "bm25" and similarities is not None:
                    (raw, raw95), (mine, mine95) = similarities["lucene"], similarities["folio"]
                    ratio = f"{mine / raw:.2f}"  # from the turns, not the main pass above
                    note = (f"in turns: Lucene's BM25 on the same index p50 {raw:.2f} ms, p95 {raw95:.2f} ms; "
                            f"folio_bm25 p50 {mine:.2f} ms, p95 {mine95:.2f} ms")  # fmt: skip
                rows.append((backend, n, mode, p50, p95, p50_snippets, ratio, note))
            if native is not None:
                (p50, p95, p50_snippets), overlap = native
                hybrid_p50 = measured["hybrid"][0]
                note = (
                    f"OpenSearch hybrid query + RRF processor; {p50 / hybrid_p50:.2f}× Folio's hybrid p50, "
                    f"{overlap:.0%} of its top {args.top_k} in Folio's"
                )
                rows.append((backend, n, "hybrid-native", p50, p95, p50_snippets, "", note))
            store.close()

    header = (
        "| backend | pages | mode | p50 ms | p95 ms | p50 ms with snippets | p50 ÷ raw p50 | baseline (same run) |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    table = "\n".join(
        [header]
        + [
            f"| {b} | {n:,} | {m} | {p50:.2f} | {p95:.2f} | {p50s:.2f} | {ratio} | {note} |"
            for b, n, m, p50, p95, p50s, ratio, note in rows
        ]
    )
    print(table)
    if not args.no_record:
        record(
            "first-stage",
            "First stage",
            f"{args.queries} queries per mode, top_k={args.top_k}, dim={args.dim}, OpenSearch pages index "
            f"{'force-merged to one segment' if args.merge == 'force' else 'as the engine merges left it'} after a "
            f"bulk load, 1-min load average "
            f"{os.getloadavg()[0]:.1f} at the end (other work on the machine inflates every number, baselines "
            f"included), {WORDS_PER_PAGE} words/page (Zipf vocabulary of {VOCAB:,}), pages' language {args.language or 'none'}, "
            "20% of pages ACL-restricted, "
            f"{args.vectors} vectors (see the script; the kNN row's recall@{args.top_k}: its share of the exact "
            "top-k). "
            "p50/p95: the search the API's first stage makes (hits without snippets; the API makes them only "
            "for the hits it returns); the snippets column: the same search with a snippet per hit, as "
            "`folio search` asks. p50 ÷ raw p50: against the raw engines of the same run (a top-50 query "
            "of the query words straight to the SQLite store's tantivy index; exact numpy kNN; their sum for hybrid); OpenSearch's bm25 row: against Lucene's own BM25 "
            "on the same index (Folio scores with `folio_bm25`, FTS5's BM25 as a scripted similarity, so both "
            "stores rank alike), the two similarities timed in turns after the main passes (Lucene, Folio, "
            "Folio, Lucene; each after closing and reopening the index), the ratio from those turns; the other "
            "OpenSearch rows have no raw baseline. hybrid-native "
            "(on a node with the ML plugins): OpenSearch's own `hybrid` query fused by neural-search's RRF "
            "processor (k as Folio's, both rankings weighed alike: 2.19's RRF has no weights) instead of "
            "Folio's `_msearch` and fusion, same index and queries, each ranking as deep; it runs without the "
            "shard request cache (2.19 fails hybrid queries served from it), which the other OpenSearch rows' "
            "second pass, the snippets column, hits.",
            table,
            label=args.label,
            benchmarks=args.out,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
