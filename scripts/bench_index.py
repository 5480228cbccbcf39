#!/usr/bin/env python
"""Indexing throughput and memory: `folio index` on a corpus (default: the shared PDFs) and on the
117-page GeoTopo PDF, each beside the raw PyMuPDF loop (render within m0's pixel budget + plain
text extraction, one core, no OCR, no encoding) measured in the same run. Reports pages/s, the
ratio per core (indexing pages/s / cores ÷ raw pages/s), the same ratio per CPU-second with and
without start-up, and peak RSS of the whole process tree (the CLI and its workers); and what the
word positions cost (indexer.word_positions): the CPU per page of their part of the page work
(MuPDF's words, their offsets in the text, the stored form), timed in this process on the same
pages in the same rounds, and the stored bytes of word boxes per page in the index run's store.
Prints a table, makes it the indexing current table in BENCHMARKS.md and appends it to
docs/benchmarks-history.md.

    .venv/bin/python scripts/bench_index.py [CORPUS] [--embedder NAME] [--workers N] [--rounds N] [--no-record]

With --ray it compares instead, on CORPUS in one run: `folio index --ray` on a local Ray cluster
of one node and of two (scripts/ray-local, one CPU each) against local runs of one worker and of
two: pages/s, CPU-seconds per page (the driver and every process of the cluster), the driver's
peak RSS and the object store's peak use; it makes that the indexing-ray table of BENCHMARKS.md.

    .venv/bin/python scripts/bench_index.py --ray [CORPUS] [--ray-port P] [--ray-ports-from Q] [--no-record]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "pdfs"
sys.path.insert(0, str(REPO))
from benchlib import record  # noqa: E402

from docstore.schema import page_id  # noqa: E402
from docstore.store import open_store  # noqa: E402
from docstore.word_boxes import encode_word_boxes  # noqa: E402
from indexer.mupdf import pymupdf  # noqa: E402
from indexer.pdf_pages import BLOCK_FLAGS  # noqa: E402
from indexer.render import MAX_PIXELS  # noqa: E402
from indexer.text import blocks_text, text_blocks  # noqa: E402
from indexer.word_positions import word_boxes  # noqa: E402


def each_page(pdfs: list[Path], work: Callable[[pymupdf.Page], object]) -> int:
    """Run `work` on every page of the files that open; the pages done. A file that fails is left
    there (unreadable files are skipped by both sides)."""
    pages = 0
    for path in pdfs:
        try:
            doc = pymupdf.open(path)
            if doc.needs_pass:
                continue
            for page in (doc.load_page(i) for i in range(doc.page_count)):
                work(page)
                pages += 1
        except Exception:
            continue
    return pages


def raw_rate(pdfs: list[Path]) -> tuple[int, float, float]:
    """Pages, pages/s (wall) and pages per CPU-second of the plain loop on this (one) core."""

    def render(page: pymupdf.Page) -> None:
        zoom = math.sqrt(MAX_PIXELS / (page.rect.width * page.rect.height))
        page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom))
        page.get_text()

    start, cpu = time.perf_counter(), time.process_time()
    pages = each_page(pdfs, render)
    return pages, pages / (time.perf_counter() - start), pages / (time.process_time() - cpu)


def word_box_cpu(pdfs: list[Path]) -> float:
    """CPU ms per text-layer page of the word positions' part of the page work, as extract_page
    does it: the words of the text page the text comes from, their offsets and boxes, the stored
    form (the text page, blocks and text are made untimed: indexing makes them anyway)."""
    spent: list[float] = []

    def boxes(page: pymupdf.Page) -> None:
        display_list = page.get_displaylist()
        textpage = pymupdf.TextPage(display_list.get_textpage(flags=BLOCK_FLAGS))
        blocks = textpage.extractBLOCKS()
        ordered = text_blocks(blocks, page.rect.width)
        text = blocks_text(ordered)
        if not text:
            return  # no text layer: no words (OCR'd pages get theirs from the OCR)
        start = time.process_time()
        encode_word_boxes(
            word_boxes(text, blocks, ordered, textpage.extractWORDS(), tuple(display_list.rect))
        )
        spent.append(time.process_time() - start)

    each_page(pdfs, boxes)
    return sum(spent) / max(len(spent), 1) * 1e3


def stored_box_bytes(store_url: str) -> int:
    """Bytes of word boxes in the store, over all its pages."""
    store = open_store(store_url)
    try:
        docs = store.list_documents()
        ids = [page_id(d.doc_id, n) for d in docs for n in range(1, d.page_count + 1)]
        return sum(len(boxes) for boxes in store.get_word_boxes(ids).values())
    finally:
        store.close()


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.Error:  # the CLI has just exited
        return 0
    for p in tree:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def adopt_orphans() -> bool:
    """Make this process the child subreaper (Linux): what the CLI leaves running when it exits (the
    forkserver, with the workers it forked and reaped, and the resource tracker) is re-parented here
    instead of to init, so reaping it adds its CPU time to RUSAGE_CHILDREN like the CLI's own."""
    try:
        return bool(ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap_orphans(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # nothing left
        if pid == 0:
            time.sleep(0.01)


def index_run(
    corpus: Path, embedder: str | None, workers: int | None, embed_in: str, extra: list[str] | None = None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store_url = f"sqlite:///{tmp}/b.db"
        cmd = [sys.executable, "-m", "search_api.main", "index", str(corpus), "--store", store_url]
        cmd += ["--json", "--quiet", "--embed-in", embed_in] + (["--embedder", embedder] if embedder else [])
        cmd += (["--workers", str(workers)] if workers else []) + (extra or [])
        start = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
        ps = psutil.Process(proc.pid)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(ps))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        reap_orphans()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the CLI and every process it started
        cpu = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"folio index failed ({proc.returncode})")
        summary = json.loads(out)
        box_bytes = stored_box_bytes(store_url)
    return {
        "pages": summary["pages_indexed"],
        "run_s": summary["seconds"],
        "wall_s": wall,
        "rate": summary["pages_indexed"] / summary["seconds"],
        "cpu_rate": summary["pages_indexed"] / cpu,
        "cpu_s": cpu,
        "peak_mb": peak / 2**20,
        "embedder": summary["embedder"],
        "failed": len(summary["failed_pages"]),
        "box_bytes_page": box_bytes / max(summary["pages_indexed"], 1),
        "nodes": len(summary.get("pages_per_node", {})),
    }


class LocalRay:
    """A local Ray cluster from scripts/ray-local, grown node by node, with the CPU time of its
    processes (each node is a session; a process that ended is in its parent's children's times,
    the raylet reaping its workers) and its object store's use."""

    def __init__(self, port: int, ports_from: int) -> None:
        self.port, self.ports_from, self.nodes = port, ports_from, 0
        self.address = f"127.0.0.2:{port}"

    def script(self, command: str, nodes: int) -> str:
        args = [str(REPO / "scripts" / "ray-local"), command, "--port", str(self.port), "--nodes", str(nodes)]
        args += ["--ports-from", str(self.ports_from)]
        env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
        proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
        if command == "start" and proc.returncode != 0:
            raise SystemExit(f"ray-local start failed:\n{proc.stderr[-2000:]}")
        return proc.stdout

    def start(self, nodes: int) -> None:
        self.script("start", nodes)
        self.nodes = nodes

    def stop(self) -> None:
        self.script("stop", max(self.nodes, 1))

    def cpu_meter(self) -> tuple[Callable[[], float], threading.Event]:
        """The CPU seconds the cluster's processes (each node is a session) spend from now on:
        every process is sampled every 0.1 s and counts from its first sample (a process
        started since counts whole); a worker that exits loses at most its last 0.1 s (Ray's
        raylet does not gather its workers' times). Returns (the seconds so far, a stop event)."""
        sessions = {int(g) for g in re.findall(r", pid (\d+),", self.script("status", self.nodes))}
        first: dict[int, float] = {}
        last: dict[int, float] = {}
        stop = threading.Event()

        def sample(initial: bool) -> None:
            for proc in psutil.process_iter():
                try:
                    if os.getsid(proc.pid) in sessions:
                        t = proc.cpu_times()
                        last[proc.pid] = t.user + t.system
                        first.setdefault(proc.pid, last[proc.pid] if initial else 0.0)
                except (psutil.Error, OSError):
                    pass

        def loop() -> None:
            while not stop.wait(0.1):
                sample(initial=False)

        sample(initial=True)
        threading.Thread(target=loop, daemon=True).start()
        return (lambda: sum(last[p] - first[p] for p in last)), stop


def object_store_sampler(address: str) -> tuple[Callable[[], float], Callable[[], None]]:
    """Samples the cluster's object store use (MiB, all nodes) every 0.2 s, as `ray memory
    --stats-only` reports it; returns (the peak since the last reset, reset)."""
    import ray
    from ray._private.internal_api import memory_summary  # what `ray memory` prints

    ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    peak = [0.0]

    def sample() -> None:
        while True:
            found = re.search(r"Plasma memory usage (\d+) MiB", memory_summary(address, stats_only=True))
            peak[0] = max(peak[0], float(found.group(1)) if found else 0.0)
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()

    def reset() -> None:
        peak[0] = 0.0

    return (lambda: peak[0]), reset


def ray_comparison(args: argparse.Namespace) -> None:
    """`--ray`: the corpus indexed by one Ray node and by two (one CPU each, scripts/ray-local), and
    by a local run of one worker and of two, in one run."""
    cluster = LocalRay(args.ray_port, args.ray_ports_from)
    rows: list[tuple[str, int, dict[str, float]]] = []
    try:
        raw_rate(sorted(args.corpus.rglob("*.pdf")) if args.corpus.is_dir() else [args.corpus])  # file cache
        for workers in (1, 2):
            rows.append(("local", workers, index_run(args.corpus, args.embedder, workers, args.embed_in)))
        cluster.start(1)
        store_peak, reset = object_store_sampler(cluster.address)
        for nodes in (1, 2):
            cluster.start(nodes)
            reset()
            cluster_cpu, stop = cluster.cpu_meter()
            run = index_run(args.corpus, args.embedder, None, args.embed_in, ["--ray", cluster.address])
            time.sleep(0.3)  # the job's workers exit once the driver has gone: their last samples
            stop.set()
            run["cluster_cpu_s"] = cluster_cpu()
            run["store_mb"] = store_peak()
            rows.append(("Ray", nodes, run))
    finally:
        cluster.stop()
    load = os.getloadavg()[0]
    header = (
        "| run | nodes / workers | pages | pages/s | speed-up over one | wall s | CPU s/page (driver + cluster) "
        "| driver CPU s | peak driver RSS MB | peak object store MiB | nodes that did pages |"
    )
    lines = [header, "|" + "---|" * header.count(" |")]
    base = {kind: run["rate"] for kind, n, run in rows if n == 1}
    for kind, n, run in rows:
        cpu = run["cpu_s"] + run.get("cluster_cpu_s", 0.0)
        store = f"{run['store_mb']:.0f}" if "store_mb" in run else "-"
        lines.append(
            f"| {kind} | {n} | {int(run['pages'])} | {run['rate']:.1f} | {run['rate'] / base[kind]:.2f}x "
            f"| {run['wall_s']:.1f} | {cpu / run['pages']:.3f} | {run['cpu_s']:.1f} | {run['peak_mb']:.0f} "
            f"| {store} | {run['nodes'] if kind == 'Ray' else '-'} |"
        )
    table = "\n".join(lines)
    print(table)
    print(f"load average at the end: {load:.1f}")
    if not args.no_record:
        notes = (
            f"`folio index --ray` on a local cluster (scripts/ray-local: one CPU and a 256 MiB object store "
            f"a node) against `folio index --workers N` on the same corpus ({args.corpus.name}), "
            "one run each, in this order. This machine has "
            f"{os.cpu_count()} cores: two nodes (or two workers) use them all, and the driver, the store "
            "writes and Ray's own processes share them, so the two-node speed-up is bounded well below 2x "
            "here; on a real cluster each node brings its own cores. Every run pays its start-up (Ray: "
            "joining the cluster and starting a worker process per CPU; local: the forkserver). CPU s/page: "
            "the CLI's process tree (the driver) plus, for Ray, every process of the cluster's nodes during "
            "the run (workers, raylets, GCS; sampled every 0.1 s), divided by the pages. Peak driver RSS: the CLI's process tree "
            "(for a local run, with its workers). Peak object store: Ray's plasma use over all nodes "
            "(`ray memory --stats-only`), sampled every 0.2 s: the documents' bytes in flight and the "
            f"pages' results. Load average at the end of the run: {load:.1f}"
            + (
                " (above the cores: they were shared with other work)."
                if load > (os.cpu_count() or 1)
                else "."
            )
        )
        record("indexing-ray", "Indexing on Ray", notes, table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", type=Path, default=SHARED)
    ap.add_argument("--geotopo", type=Path, default=SHARED / "GeoTopo-komprimiert.pdf")
    ap.add_argument(
        "--startup-pdf", type=Path, default=SHARED / "pdflatex-4-pages.pdf",
        help="a small PDF whose run measures the fixed start-up CPU",
    )  # fmt: skip
    ap.add_argument("--embedder", default=None, help="default: the project's default embedder")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--embed-in", default="auto", choices=["auto", "workers", "parent"])
    ap.add_argument("--rounds", type=int, default=3, help="rounds of (raw pass, start-up run, index run)")
    ap.add_argument("--no-record", action="store_true", help="do not update BENCHMARKS.md or its history")
    ap.add_argument(
        "--ray", action="store_true",
        help="compare one Ray node, two, and local runs instead (a local cluster from scripts/ray-local)",
    )  # fmt: skip
    ap.add_argument("--ray-port", type=int, default=6395, help="the local cluster's GCS port (--ray)")
    ap.add_argument("--ray-ports-from", type=int, default=None, help="its other ports (default: the next)")
    args = ap.parse_args()
    if args.ray:
        args.ray_ports_from = args.ray_ports_from or args.ray_port + 1
        if not adopt_orphans():
            print(
                "warning: no subreaper here; CPU of processes that outlive the CLI is not counted",
                file=sys.stderr,
            )
        ray_comparison(args)
        return
    cores = args.workers or os.cpu_count() or 1
    if not adopt_orphans():
        print(
            "warning: no subreaper here; CPU of processes that outlive the CLI is not counted",
            file=sys.stderr,
        )
    if not args.startup_pdf.exists():
        raise SystemExit(f"start-up PDF not found: {args.startup_pdf}")

    def index(target: Path) -> dict[str, float]:
        return index_run(target, args.embedder, args.workers, args.embed_in)

    rows = []
    for label, target in [("corpus", args.corpus), ("GeoTopo", args.geotopo)]:
        if not target.exists():
            print(f"skipping {label}: {target} not found", file=sys.stderr)
            continue
        pdfs = sorted(target.rglob("*.pdf")) if target.is_dir() else [target]
        raw_rate(pdfs)  # untimed: warms the file cache for both sides
        # The cores' speed drifts within a minute on a shared machine, so each round times the raw loop,
        # the start-up run and the index run back to back, ratios are taken within a round, and
        # each column reports the median over the rounds.
        rounds = []
        for _ in range(args.rounds):
            _, raw, raw_cpu = raw_rate(pdfs)
            boxes_ms = word_box_cpu(pdfs)
            # A run's CPU is start-up + pages × per-page cost: the four-page run and the full run
            # give both, so the per-page cost is free of start-up (and of the small run's pages).
            tiny, run = index(args.startup_pdf), index(target)
            steady = (run["cpu_s"] - tiny["cpu_s"]) / max(run["pages"] - tiny["pages"], 1)
            rounds.append({
                "raw": raw, "raw_cpu": raw_cpu, "rate": run["rate"], "cpu_rate": run["cpu_rate"],
                "wall_s": run["wall_s"], "peak_mb": run["peak_mb"], "pages": run["pages"],
                "startup_cpu": tiny["cpu_s"] - tiny["pages"] * steady, "steady_ms": steady * 1e3,
                "ratio": run["rate"] / cores / raw, "cpu_ratio": run["cpu_rate"] / raw_cpu,
                "steady_ratio": 1 / raw_cpu / max(steady, 1e-9), "boxes_ms": boxes_ms,
                "box_bytes": run["box_bytes_page"],
            })  # fmt: skip
        med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        rows.append((label, target, run["embedder"], med))

    load = os.getloadavg()[0]
    header = (
        "| corpus | pages | embedder | workers | raw pages/s (1 core) | index pages/s | ratio per core "
        "| raw pages/CPU-s | index pages/CPU-s | CPU ratio | wall s | peak RSS MB "
        "| raw CPU ms/page | start-up CPU s | index CPU ms/page after start-up | steady CPU ratio "
        "| word boxes CPU ms/page | word boxes bytes/page |"
    )
    lines = [header, "|" + "---|" * header.count(" |")]
    for label, target, embedder, m in rows:
        lines.append(
            f"| {label} ({target.name}) | {int(m['pages'])} | {embedder} | {cores} | {m['raw']:.1f} "
            f"| {m['rate']:.1f} | {m['ratio']:.0%} | {m['raw_cpu']:.1f} | {m['cpu_rate']:.1f} "
            f"| {m['cpu_ratio']:.0%} | {m['wall_s']:.1f} | {m['peak_mb']:.0f} | {1e3 / m['raw_cpu']:.1f} "
            f"| {m['startup_cpu']:.2f} | {m['steady_ms']:.1f} | {m['steady_ratio']:.0%} "
            f"| {m['boxes_ms']:.2f} | {m['box_bytes']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    print(f"{args.rounds} rounds; load average at the end: {load:.1f}")
    if not args.no_record:
        notes = (
            "`folio index` into a fresh SQLite store (render, text, OCR of scans, "
            "JPEG + thumbnail, embeddings, bulk writes) beside the raw PyMuPDF render+text loop on one core. "
            f"{args.rounds} rounds, each timing the raw loop, a run on a four-page file and the index run back to "
            "back; ratios are taken within a round and every column is the median over the rounds. "
            "Ratio per core = (index pages/s ÷ workers) ÷ raw pages/s; the CPU ratio divides pages per "
            "CPU-second of the whole process tree (start-up and model loads included) by the raw loop's; the "
            "steady CPU ratio uses the per-page CPU once start-up is taken out (the two runs of a round give "
            "start-up and per-page cost), i.e. what a long run approaches. Word boxes (where each word is on "
            "the page image, kept for highlights): the CPU per text-layer page of their part of the page work "
            "(MuPDF's words, their offsets in the text, the stored form), timed in the bench's own process on "
            "the same pages in each round, and their stored bytes per page in the index run's store. "
            "Targets: ≥ 60 %, peak ≤ 2 GB on "
            f"GeoTopo. Load average at the end of the run: {load:.1f} (the cores were shared when it is > cores)."
        )
        record("indexing", "Indexing", notes, table)


if __name__ == "__main__":
    main()
