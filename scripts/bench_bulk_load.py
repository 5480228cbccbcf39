#!/usr/bin/env python3
"""Initial-load throughput: pages/s into one OpenSearch node with and without the store's
bulk-load mode (`folio index --bulk-load`: no refresh and no replica while loading, three bulk
requests in flight), beside SQLite with the same pages in the same run. The pages are
scripts/bench_first_stage.py's synthetic ones, made once before any timing; each load starts on
empty indices and ends when every page is searchable (the bulk load's closing refresh included;
k-NN graphs are built by the engine's own merges, none forced). The OpenSearch setups take turns
(plain, bulk, bulk, plain for --rounds 2) so that load on the machine weighs on both alike; each
figure is the median of its turns. Prints a table, makes it the current `bulk-load` table of
BENCHMARKS.md and appends it to docs/benchmarks-history.md.

    .venv/bin/python scripts/bench_bulk_load.py --opensearch http://127.0.0.1:9200 [--pages 20000] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
from bench_first_stage import synthetic_pages  # noqa: E402
from benchlib import record  # noqa: E402

from docstore.opensearch.store import OpenSearchStore  # noqa: E402
from docstore.protocol import Store  # noqa: E402
from docstore.schema import Page  # noqa: E402
from docstore.sqlite.store import SqliteStore  # noqa: E402

PREFIX = "folio-bench-bulk-load"


def load(store: Store, batches: list[list[Page]], dim: int, bulk: bool) -> float:
    """Seconds to write every batch, as one indexing run does (bulk-load mode or not), until all
    the pages are searchable."""
    t0 = time.perf_counter()
    store.ensure(dim)
    with store.bulk_load() if bulk else nullcontext():
        for pages in batches:
            store.upsert_pages(pages)
    if isinstance(store, OpenSearchStore):
        store.refresh()  # a no-op after a bulk load or refresh=true writes; counts for refresh=false
    seconds = time.perf_counter() - t0
    if store.count() != sum(len(b) for b in batches):
        raise SystemExit(f"{store.url}: {store.count()} pages stored, not {sum(len(b) for b in batches)}")
    return seconds


def opensearch_load(url: str, batches: list[list[Page]], dim: int, bulk: bool) -> tuple[float, float, int, str]:
    """Seconds until every page is searchable; seconds until, in addition, the merges the load left
    are done (the node is back to idle); the pages index's segments then; and the node's indexing,
    refresh and merge time on the pages index (seconds, summed over its threads: the work the load
    cost the node, whether or not it overlapped)."""
    store = OpenSearchStore(url)
    store.client.indices.delete(index=f"{PREFIX}-*", ignore_unavailable=True)
    try:
        t0 = time.perf_counter()
        seconds = load(store, batches, dim, bulk)
        deadline = time.monotonic() + 1800
        while _stats(store)["merges"]["current"] and time.monotonic() < deadline:
            time.sleep(0.2)
        settled = time.perf_counter() - t0
        stats = _stats(store)
        work = [
            stats["indexing"]["index_time_in_millis"],
            stats["refresh"]["total_time_in_millis"],
            stats["merges"]["total_time_in_millis"],
        ]
        return seconds, settled, int(stats["segments"]["count"]), " + ".join(f"{ms / 1000:.0f}" for ms in work)
    finally:
        store.client.indices.delete(index=f"{PREFIX}-*", ignore_unavailable=True)
        store.close()


def _stats(store: OpenSearchStore) -> dict[str, Any]:
    found = store.client.indices.stats(index=store.pages_index, metric="indexing,refresh,merge,segments")
    return dict(found["_all"]["primaries"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opensearch", required=True, help="URL of the node (one node: replicas stay 0)")
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--rounds", type=int, default=2, help="turns of each OpenSearch setup")
    ap.add_argument(
        "--batch", type=int, default=32, help="pages per write (default: what `folio index` writes at a time)"
    )
    ap.add_argument(
        "--big-batch",
        type=int,
        default=2_000,
        help="pages per write of the third setup (bench_first_stage's fill writes this many at a time)",
    )
    ap.add_argument("--label", default="", help="what changed, recorded with the run")
    ap.add_argument("--out", type=Path, default=None, help="BENCHMARKS.md to update (default: the repo's)")
    ap.add_argument("--no-record", action="store_true", help="do not update BENCHMARKS.md or its history")
    args = ap.parse_args()

    made = [page for pages, _ in synthetic_pages(args.pages, args.dim, seed=args.pages) for page in pages]

    def batches(size: int) -> list[list[Page]]:
        return [made[i : i + size] for i in range(0, len(made), size)]

    sep = "&" if "?" in args.opensearch else "?"
    url = f"{args.opensearch}{sep}prefix={PREFIX}"
    # plain: the store as `folio index` opens it by default (each write waits for a refresh)
    setups = {
        f"plain (refresh=true), {args.batch} pages a write": (False, args.batch),
        f"bulk-load, {args.batch} pages a write": (True, args.batch),
        f"bulk-load, {args.big_batch:,} pages a write": (True, args.big_batch),
    }
    order = [name for r in range(args.rounds) for name in (setups if r % 2 == 0 else reversed(setups))]
    turns: dict[str, list[tuple[float, float]]] = {name: [] for name in setups}
    segments: dict[str, list[int]] = {name: [] for name in setups}
    work: dict[str, list[str]] = {name: [] for name in setups}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="folio-bench-") as tmp:
        sqlite = SqliteStore(f"sqlite:///{tmp}/bulk.db")
        sqlite_s = load(sqlite, batches(args.batch), args.dim, bulk=True)
        sqlite.close()
    loads.append(os.getloadavg()[0])
    print(f"sqlite: {sqlite_s:.1f} s (load {loads[-1]:.1f})", file=sys.stderr)
    for name in order:
        bulk, size = setups[name]
        searchable, settled, count, cost = opensearch_load(url, batches(size), args.dim, bulk)
        turns[name].append((searchable, settled))
        segments[name].append(count)
        work[name].append(cost)
        loads.append(os.getloadavg()[0])
        print(f"{name}: {searchable:.1f} s, settled {settled:.1f} s (load {loads[-1]:.1f})", file=sys.stderr)

    rows = [("SQLite", f"one transaction a write, {args.batch} pages a write", sqlite_s, sqlite_s, [sqlite_s], "", "")]
    for name, timed in turns.items():
        searchable = statistics.median(t for t, _ in timed)
        settled = statistics.median(t for _, t in timed)
        rows.append(
            ("OpenSearch 1 node", name, searchable, settled, [t for _, t in timed],
             ", ".join(map(str, segments[name])), "; ".join(work[name]))
        )  # fmt: skip
    header = (
        "| store | mode | s until searchable | s until settled | pages/s (settled) | ÷ SQLite pages/s | "
        "turns, settled (s) | segments after | node work s: index + refresh + merge |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    table = "\n".join(
        [header]
        + [
            f"| {store} | {mode} | {s:.1f} | {settled:.1f} | {args.pages / settled:,.0f} | {sqlite_s / settled:.2f} | "
            f"{', '.join(f'{t:.1f}' for t in timed)} | {after} | {cost} |"
            for store, mode, s, settled, timed, after, cost in rows
        ]
    )
    print(table)
    if not args.no_record:
        record(
            "bulk-load",
            "Initial load",
            f"{args.pages:,} synthetic pages (bench_first_stage's: {args.dim}-dim vectors, 150 words/page), "
            "written through `upsert_pages` on empty indices each time. Until searchable: until a search "
            "finds every page (a bulk load's closing refresh included); until settled: until, in addition, "
            "the merges the load left behind are done (merging small segments rebuilds their k-NN graphs: "
            "work the node does either way, and the figure the rate is taken from). Segments: the pages "
            "index's, settled; node work: its indexing, refresh and merge time (summed over the node's "
            "threads, overlapping or not: what the load cost the node). OpenSearch: one node (one shard, "
            "no replica to drop); plain = the store as `folio index` opens it (refresh=true); bulk-load = "
            "`folio index --bulk-load`'s mode (refresh off, replicas 0, one refresh at the end, a write of "
            f"many pages three bulk requests at a time); {args.batch} pages a write is what `folio index` "
            f"writes at a time, {args.big_batch:,} what bench_first_stage's fill writes. {args.rounds} turns "
            "of each, alternating, median shown. SQLite with the same pages in the same run. 1-min load "
            f"average {min(loads):.1f} to {max(loads):.1f} during the run (other work on the machine slows "
            "every figure).",
            table,
            label=args.label,
            benchmarks=args.out,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
