#!/usr/bin/env python3
"""Search latency on a three-node OpenSearch cluster against one node at the same page count:
p50/p95 of the store's BM25, kNN and hybrid first-stage searches (hits without snippets, as the
API's first stage asks) on the synthetic pages of scripts/bench_first_stage.py. The cluster's
store URL names all three hosts (requests go round-robin over them) with shards=3&replicas=1; the
one node is measured with one shard and with three. Nodes that are not running are started with
scripts/opensearch-local (one on --single-port, three from --cluster-port) and stopped at the end.
Each store is bulk loaded (refresh off, then one refresh and a merge to one segment per shard),
warmed with one pass of the queries, then the setups take turns for --rounds rounds. Prints a
table, makes it the current `scale-search` table of BENCHMARKS.md and appends it to
docs/benchmarks-history.md.

    .venv/bin/python scripts/bench_scale_search.py [--pages 10000] [--queries 200] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
from bench_first_stage import fill, percentiles, timed, vocabulary  # noqa: E402
from benchlib import record  # noqa: E402

from docstore.opensearch.store import OpenSearchStore  # noqa: E402
from docstore.schema import SearchMode, SearchRequest  # noqa: E402

SCRIPT = REPO / "scripts" / "opensearch-local"
PREFIX = "folio-bench-scale"


@dataclass(frozen=True)
class Nodes:
    port: int
    count: int

    def _script(self, command: str) -> subprocess.CompletedProcess[str]:
        args = [str(SCRIPT), command, "--port", str(self.port), "--nodes", str(self.count)]
        return subprocess.run(args, capture_output=True, text=True, timeout=900)

    def start(self) -> bool:
        """Start the nodes that are down; True when this call started any (stop them after)."""
        if self._script("status").returncode == 0:
            return False
        proc = self._script("start")
        if proc.returncode != 0:
            raise SystemExit(
                f"opensearch-local start --port {self.port} --nodes {self.count}:\n{proc.stderr}"
            )
        return True

    def stop(self) -> None:
        self._script("stop")


@dataclass(frozen=True)
class Setup:
    name: str
    nodes: Nodes
    shards: int
    replicas: int

    def store_url(self, pages: int) -> str:
        hosts = ",".join(f"127.0.0.1:{self.nodes.port + i}" for i in range(self.nodes.count))
        prefix = f"{PREFIX}-{self.nodes.count}n{self.shards}s-{pages}"
        return f"opensearch://{hosts}?prefix={prefix}&refresh=false&shards={self.shards}&replicas={self.replicas}"


def _load(store: OpenSearchStore, pages: int, dim: int) -> float:
    """Bulk load `pages` synthetic pages (a store already holding them is kept); seconds taken."""
    if store.count() == pages:
        return 0.0
    client = store.client
    client.indices.delete(index=f"{store.prefix}-*", ignore_unavailable=True)
    store.close()
    t0 = time.perf_counter()
    fill(store, pages, dim)
    store.refresh()
    # One segment per shard, as a batch-indexed production index (HNSW search cost grows per segment).
    client = store.client
    client.indices.forcemerge(index=store.pages_index, max_num_segments=1, request_timeout=900)
    store.refresh()
    # Every copy in place before measuring (the cluster's replicas recover after the load).
    client.cluster.health(
        index=store.pages_index, wait_for_status="green", timeout="300s", request_timeout=330
    )
    return time.perf_counter() - t0


def _queries(count: int, dim: int) -> tuple[list[str], np.ndarray]:
    """2-3 mid-frequency words per query and a random unit vector, as bench_first_stage asks."""
    rng = np.random.default_rng(7)
    words = vocabulary(np.random.default_rng(0))
    texts = [
        " ".join(words[int(j)] for j in rng.integers(20, 2000, size=int(rng.integers(2, 4))))
        for _ in range(count)
    ]
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return texts, vectors


def _prepare(
    setup: Setup, pages: int, texts: list[str], vectors: np.ndarray, top_k: int
) -> tuple[OpenSearchStore, float]:
    """The setup's store, loaded, with every query run once in each mode (untimed: each shard copy
    warms its own caches and JIT); and the seconds the load took."""
    store = OpenSearchStore(setup.store_url(pages))
    load_s = _load(store, pages, vectors.shape[1])
    print(f"{setup.name}: {pages:,} pages loaded in {load_s:.0f} s", file=sys.stderr)
    for request in _requests(texts, vectors, top_k):
        store.search(request)
    return store, load_s


def _requests(
    texts: list[str], vectors: np.ndarray, top_k: int, mode: SearchMode | None = None
) -> list[SearchRequest]:
    """The API first stage's searches (hits without snippets), in one mode or all three."""
    modes = [mode] if mode else [SearchMode.bm25, SearchMode.knn, SearchMode.hybrid]
    return [
        SearchRequest(query=text, vector=vector.tolist(), mode=m, top_k=top_k, snippets=False)
        for m in modes
        for text, vector in zip(texts, vectors, strict=True)
    ]


def run(
    record_results: bool = True,
    pages: int = 10_000,
    queries: int = 200,
    rounds: int = 3,
    dim: int = 384,
    top_k: int = 10,
    single_port: int = 9345,
    cluster_port: int = 9340,
    keep: bool = False,
    label: str = "",
) -> list[dict[str, Any]]:
    """Measure each setup; one row per setup and mode (p50/p95 in ms). The setups take turns,
    `rounds` times, so that other work on the machine weighs on each alike. Records the table
    unless `record_results` is False; `keep` leaves the nodes and the bench indices in place."""
    one, three = Nodes(single_port, 1), Nodes(cluster_port, 3)
    setups = [
        Setup("one node", one, 1, 0),
        Setup("one node, three shards", one, 3, 0),
        Setup("three-node cluster", three, 3, 1),
    ]
    texts, vectors = _queries(queries, dim)
    modes = [SearchMode.bm25, SearchMode.knn, SearchMode.hybrid]
    samples: dict[tuple[str, SearchMode], list[float]] = {(s.name, m): [] for s in setups for m in modes}
    started = [nodes for nodes in (one, three) if nodes.start()]
    stores: dict[str, OpenSearchStore] = {}
    loads: dict[str, float] = {}  # seconds each setup's bulk load took
    try:
        for setup in setups:
            stores[setup.name], loads[setup.name] = _prepare(setup, pages, texts, vectors, top_k)
        for _ in range(rounds):
            for setup in setups:
                for mode in modes:
                    requests = _requests(texts, vectors, top_k, mode)
                    samples[(setup.name, mode)] += timed(stores[setup.name].search, requests)  # type: ignore[arg-type]
    finally:
        for store in stores.values():
            if not keep:
                store.client.indices.delete(index=f"{store.prefix}-*", ignore_unavailable=True)
            store.close()
        for nodes in started if not keep else []:
            nodes.stop()
    rows: list[dict[str, Any]] = []
    for setup in setups:
        for mode in modes:
            p50, p95 = percentiles(samples[(setup.name, mode)])
            rows.append(
                {"setup": setup.name, "nodes": setup.nodes.count, "shards": setup.shards,
                 "replicas": setup.replicas, "pages": pages, "mode": mode.value, "p50_ms": p50,
                 "p95_ms": p95, "load_s": loads[setup.name]}
            )  # fmt: skip
    single = {r["mode"]: r for r in rows if r["setup"] == setups[0].name}
    for row in rows:
        row["p50_ratio"] = row["p50_ms"] / single[row["mode"]]["p50_ms"]
        row["p95_ratio"] = row["p95_ms"] / single[row["mode"]]["p95_ms"]
    table = _table(rows)
    print(table)
    if record_results:
        record(
            "scale-search",
            "Scale-out: search on a three-node OpenSearch cluster",
            _notes(rows, queries, rounds, top_k, dim),
            table,
            label=label,
        )
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| setup | shards × copies | pages | mode | p50 ms | p95 ms | p50 ÷ one node | p95 ÷ one node |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setup']} | {r['shards']} × {r['replicas'] + 1} | {r['pages']:,} | {r['mode']} "
            f"| {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p50_ratio']:.2f} | {r['p95_ratio']:.2f} |"
        )
    return "\n".join(lines)


def _notes(rows: list[dict[str, Any]], queries: int, rounds: int, top_k: int, dim: int) -> str:
    loads = {r["setup"]: r["load_s"] for r in rows}
    load_text = "; ".join(f"{name} {secs:.0f} s" for name, secs in loads.items())
    return (
        f"{queries} queries per mode, one at a time, in {rounds} rounds that take turns between the "
        "setups, after one untimed pass over all of them (each shard copy warms its own caches); "
        f"hits without snippets, as the API's first stage asks; top_k={top_k}, dim={dim}. Baseline: one node (one shard, no "
        "replica, heap 1 GB) in the same run. One node, three shards: the same node with the pages split "
        "in three (the cost of the fan-out alone). The cluster: three nodes (heap 512 MB each) on this "
        "machine, the store URL naming all three hosts (round-robin), three shards with one replica "
        f"each. Bulk load (refresh off, merge, all copies started): {load_text}. 1-min load average "
        f"{os.getloadavg()[0]:.1f} at the end. The nodes share this machine's {os.cpu_count()} cores, so a "
        "query's fan-out over shards and the hops between nodes compete with each other: here the "
        "cluster buys survival of a node loss and room for more pages, not latency."
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3, help="turns each setup takes")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--single-port", type=int, default=9345, help="HTTP port of the one-node setup")
    ap.add_argument("--cluster-port", type=int, default=9340, help="first HTTP port of the cluster")
    ap.add_argument("--keep", action="store_true", help="leave the nodes and the bench indices in place")
    ap.add_argument("--label", default="", help="what changed, recorded with the run")
    ap.add_argument("--no-record", action="store_true", help="do not update BENCHMARKS.md or its history")
    args = ap.parse_args()
    run(
        record_results=not args.no_record, pages=args.pages, queries=args.queries, rounds=args.rounds, dim=args.dim,
        top_k=args.top_k, single_port=args.single_port, cluster_port=args.cluster_port, keep=args.keep,
        label=args.label,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
