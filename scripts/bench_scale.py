"""Scaling out, in one run on the tiny random m0 checkpoint: rerank throughput of a pool of two
`folio rerank-server` processes against one, and the prefix-cache hit rate over a working set twice
one server's cache, with page-affinity routing (the pool's rendezvous hashing) against round-robin
(each call whole to the next server, as a plain load balancer spreads calls); then the search
latency section of `scripts/bench_scale_search.py` (three OpenSearch nodes against one), unless
`--skip-search`.

Each rerank server runs on one CPU thread (OMP_NUM_THREADS=1) in a session of its own, standing in
for a device each. Prints a table, makes it the current `scale-rerank` table of BENCHMARKS.md and
appends it to docs/benchmarks-history.md; the search section records its own `scale-search` table.

    .venv/bin/python scripts/bench_scale.py [--seconds 12] [--clients 4] [--skip-search] [--no-record]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
from benchlib import record  # noqa: E402

from reranker.backends.pool import RemotePool  # noqa: E402
from reranker.backends.remote import RemoteBackend  # noqa: E402
from reranker.types import Candidate, RerankScores  # noqa: E402

# Common words, about one token each: a page's length in tokens is close to its length in words.
WORDS = (
    "the report shows revenue margin budget plan table figure page model cost growth market sales "
    "team project review policy risk data system service client order price level rate share value "
    "year month quarter region office staff training safety quality process design network storage "
    "energy water health school city state country law court board meeting notes summary result"
).split()
Scorer = Callable[[str, list[Candidate]], RerankScores]


def page(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


@dataclass
class RerankServer:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        if not match:
            raise SystemExit(f"{self.url}/metrics has no {name}")
        return float(match.group(1))

    def counts(self) -> tuple[float, float]:
        """(pairs scored, of those with a cached document prefix) since the server started."""
        return self.metric("folio_rerank_pairs_total"), self.metric("folio_rerank_cache_hits_total")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_servers(model: Path, n: int, cache_mb: int, work: Path) -> list[RerankServer]:
    from tests.fixtures.api_server import ServerStartError, free_port, wait_until_healthy

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    servers = []
    for i in range(n):
        port, log = free_port(), work / f"rerank-server-{i}.log"
        cmd = [sys.executable, "-m", "search_api.main", "rerank-server", "--model", str(model),
               "--port", str(port), "--device", "cpu", "--dtype", "float32", "--batch-window-ms", "2",
               "--prefix-cache-mb", str(cache_mb), "--vision-cache-mb", "0"]  # fmt: skip
        with log.open("wb") as out:
            # A session of its own: where the scheduler groups CPU time by session (autogroup), each
            # server gets its own share, as on a machine of its own, not a part of this script's.
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        servers.append(RerankServer(f"http://127.0.0.1:{port}", proc, log))
    try:
        for s in servers:  # loaded side by side
            wait_until_healthy(
                s.url, s.proc, 300, lambda s=s: s.log.read_text()[-2000:], "folio rerank-server"
            )
    except ServerStartError as exc:
        for s in servers:
            s.stop()
        raise SystemExit(str(exc)) from None
    return servers


def affinity(urls: Sequence[str]) -> tuple[Scorer, Callable[[], None]]:
    """The pool: each call's candidates split over the servers by rendezvous hashing."""
    pool = RemotePool(urls, timeout=120)
    return (lambda q, docs: pool.score_pairs([(q, d) for d in docs])), pool.close


def round_robin(urls: Sequence[str]) -> tuple[Scorer, Callable[[], None]]:
    """Each call whole to the next server in turn."""
    members = [RemoteBackend(u, timeout=120, retries=0) for u in urls]
    turn = itertools.count()
    lock = threading.Lock()

    def score(q: str, docs: list[Candidate]) -> RerankScores:
        with lock:
            member = members[next(turn) % len(members)]
        return member.score_pairs([(q, d) for d in docs])

    def close() -> None:
        for m in members:
            m.close()

    return score, close


def load(
    score: Scorer, calls: Callable[[int], tuple[str, list[Candidate]]], clients: int, seconds: float
) -> tuple[int, float]:
    """Closed loop: `clients` threads each make the next call when the last one answers, for
    `seconds`. Returns (pairs scored, elapsed seconds)."""
    counter, lock = itertools.count(), threading.Lock()
    pairs = [0]
    errors: list[BaseException] = []
    deadline = time.perf_counter() + seconds

    def client() -> None:
        try:
            while time.perf_counter() < deadline:
                with lock:
                    q, docs = calls(next(counter))
                out = score(q, docs)
                if len(out.scores) != len(docs) or out.errors:
                    raise RuntimeError(f"a call came back incomplete: {out.errors[:1]}")
                with lock:
                    pairs[0] += len(docs)
        except BaseException as exc:
            errors.append(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"the load failed: {errors[0]!r}")
    return pairs[0], time.perf_counter() - start


def hit_rate(servers: Sequence[RerankServer], before: list[tuple[float, float]]) -> float:
    after = [s.counts() for s in servers]
    pairs = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    hits = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    return hits / pairs if pairs else float("nan")


def pages_per_cache(server: RerankServer, words: int) -> tuple[int, float]:
    """How many working-set pages one server's prefix cache holds: one page's prefix measured on
    the server itself (its cache's bytes over its entries after a few pages)."""
    rng = random.Random(99)
    probe = RemoteBackend(server.url, timeout=120, retries=0)
    try:
        probe.score_pairs([("probe", page(rng, words)) for _ in range(4)])
    finally:
        probe.close()
    used = server.metric('folio_rerank_cache_bytes{cache="prefix"}')
    entries = server.metric('folio_rerank_cache_entries{cache="prefix"}')
    capacity = server.metric('folio_rerank_cache_capacity_bytes{cache="prefix"}')
    per_page = used / entries
    return int(capacity // per_page), per_page


def _row(
    workload: str,
    routing: str,
    servers: int,
    rate: float,
    cpu_ms: float,
    base: tuple[float, float],
    hits: float | None,
) -> list[str]:
    """A table row; `base` is the one-server row's (pairs/s, capacity) of the same workload."""
    capacity = servers * 1000 / cpu_ms  # a core each: pairs per server-CPU-second, times the servers
    return [workload, routing, str(servers), f"{rate:.0f}", f"{rate / base[0]:.2f}", f"{cpu_ms:.1f}",
            f"{capacity:.0f}", f"{capacity / base[1]:.2f}", "-" if hits is None else f"{hits:.2f}"]  # fmt: skip


def run_rerank(args: argparse.Namespace, work: Path) -> tuple[list[list[str]], str]:
    from tests.fixtures.tiny_m0 import build_tiny_m0

    model = build_tiny_m0(work / "tiny_m0")
    servers = start_servers(model, 2, args.cache_mb, work)
    urls = [s.url for s in servers]
    rows: list[list[str]] = []
    try:
        # Measured first, on an empty cache: how many working-set pages one server's cache holds.
        capacity, per_page = pages_per_cache(servers[0], args.page_words)
        working = 2 * capacity
        print(f"one prefix cache holds {capacity} pages of {per_page / 1024:.1f} KiB", file=sys.stderr)

        # Throughput on pages never seen (no cache hits): what the servers compute. One server and
        # two take turns in short rounds, so a burst of other work on the machine hits both alike.
        rng = random.Random(1)

        def cold(i: int) -> tuple[str, list[Candidate]]:
            return f"query {i}", [page(rng, args.cold_words) for _ in range(args.top)]

        configs = {"1": urls[:1], "2": urls}
        for members in configs.values():  # the first calls of a process are slow: not timed
            score, close = affinity(members)
            load(score, cold, args.clients, 2.0)
            close()
        rates: dict[str, list[float]] = {k: [] for k in configs}
        cpu: dict[str, list[float]] = {k: [] for k in configs}  # server CPU ms per pair
        for _ in range(args.rounds):
            for label, members in configs.items():
                score, close = affinity(members)
                cpu0 = sum(s.cpu_s() for s in servers)
                pairs, elapsed = load(score, cold, args.clients, args.seconds / args.rounds)
                cpu[label].append((sum(s.cpu_s() for s in servers) - cpu0) * 1000 / pairs)
                close()
                rates[label].append(pairs / elapsed)
        base: tuple[float, float] = (0.0, 0.0)  # the one-server row's pairs/s and capacity
        for label in configs:
            measured = (statistics.median(rates[label]), statistics.median(cpu[label]))
            base = base if base[0] else (measured[0], int(label) * 1000 / measured[1])
            routing = "page affinity" if label == "2" else "-"
            rows.append(_row("cold pages", routing, int(label), *measured, base, None))
            print(f"cold, {label} server(s): {[round(r) for r in rates[label]]} pairs/s", file=sys.stderr)

        # A fixed working set of pages, twice what one server's prefix cache holds.
        for n, (routing, route) in enumerate(
            (("-", affinity), ("round-robin", round_robin), ("page affinity", affinity))
        ):
            members = urls[:1] if routing == "-" else urls
            rng_set = random.Random(100 + n)
            pages = [page(rng_set, args.page_words) for _ in range(working)]  # a fresh set per row
            pick = random.Random(200 + n)

            def calls(
                i: int, pages: list[str] = pages, pick: random.Random = pick
            ) -> tuple[str, list[Candidate]]:
                return f"query {i}", list(pick.sample(pages, min(args.top, len(pages))))

            score, close = route(members)
            # Warm-up: every page several times over, so the caches hold this set and nothing older.
            for i in range(4 * working // args.top + 1):
                score(*calls(i))
            before = [s.counts() for s in servers]
            cpu0 = sum(s.cpu_s() for s in servers)
            pairs, elapsed = load(score, calls, args.clients, args.seconds)
            cpu_ms = (sum(s.cpu_s() for s in servers) - cpu0) * 1000 / pairs
            close()
            rate = pairs / elapsed
            base = (rate, 1000 / cpu_ms) if routing == "-" else base
            hits = hit_rate(servers, before)
            rows.append(
                _row(f"working set of {working} pages", routing, len(members), rate, cpu_ms, base, hits)
            )
            print(f"working set, {routing}, {len(members)} server(s): {pairs} pairs", file=sys.stderr)
    finally:
        for s in servers:
            s.stop()
    notes = (
        f"Tiny random m0 (64h x 2L), cpu float32; `folio rerank-server` processes on loopback, one CPU thread "
        f"each (a device each); {args.clients} closed-loop clients, {args.top} text candidates per call. cold "
        f"pages: {args.cold_words}-word pages never seen before (no cache hits), what the servers compute; one "
        f"server and two alternate in {args.rounds} rounds of {args.seconds / args.rounds:g} s (median). working "
        f"set: each call draws its candidates at random from {working} pages of {args.page_words} words, twice "
        f"what one server's prefix cache holds (--prefix-cache-mb {args.cache_mb}: {capacity} pages of "
        f"{per_page / 1024:.1f} KiB), {args.seconds:g} s after a warm-up. page affinity: the pool "
        "(remote:URL1,URL2) splits each call by rendezvous hashing of the pages; round-robin: each call whole "
        "to the next server, as a plain load balancer spreads calls. × one server: against the one-server row "
        "of the same workload. Server CPU ms/pair: CPU time of the servers per pair scored; capacity: what the "
        "servers would score with a free core each (servers × 1000 / CPU ms per pair), which the machine's "
        "other work does not bend as it does pairs/s. Hit rate: pairs "
        "whose document prefix the server had cached, over the pairs it scored (the servers' "
        "folio_rerank_cache_hits / folio_rerank_pairs). The tiny model's compute per pair is small beside "
        "the work of each request (HTTP, JSON, tokenising), so the working-set rows' pairs/s hardly show "
        "the cache; with m0 a cached page costs a fraction of a new one (see the reranker table). Load "
        "average at the end: "
        f"{os.getloadavg()[0]:.1f} (a shared 2-core machine: the clients, both servers and other jobs "
        "compete for the cores, so pairs/s cannot double; capacity and hit rates are the point)."
    )
    return rows, notes


def run_search(args: argparse.Namespace) -> None:
    """The search-latency section: scripts/bench_scale_search.py (its own `scale-search` table)."""
    import bench_scale_search

    bench_scale_search.run(record_results=not args.no_record, pages=args.search_pages, label=args.label)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0, help="per timed row")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the throughput rows")
    ap.add_argument("--clients", type=int, default=4, help="concurrent closed-loop clients")
    ap.add_argument("--top", type=int, default=16, help="candidates per call")
    ap.add_argument("--cache-mb", type=int, default=1, help="each server's prefix cache")
    ap.add_argument("--page-words", type=int, default=40, help="words per page of the working set")
    ap.add_argument("--cold-words", type=int, default=400, help="words per page of the throughput rows")
    ap.add_argument("--search-pages", type=int, default=10_000, help="pages of the search section")
    ap.add_argument("--skip-search", action="store_true", help="only the rerank pool section")
    ap.add_argument("--skip-rerank", action="store_true", help="only the search section")
    ap.add_argument("--no-record", action="store_true", help="do not update BENCHMARKS.md or its history")
    ap.add_argument("--label", default="", help="what changed, recorded with the run")
    args = ap.parse_args()

    if not args.skip_rerank:
        with tempfile.TemporaryDirectory(prefix="folio-bench-scale-") as tmp:
            rows, notes = run_rerank(args, Path(tmp))
        header = ["workload", "routing", "servers", "pairs/s", "× one server", "server CPU ms/pair",
                  "capacity, a core each, pairs/s", "× one server", "prefix-cache hit rate"]  # fmt: skip
        table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        table += ["| " + " | ".join(r) + " |" for r in rows]
        print("\n".join(table))
        print(notes)
        if not args.no_record:
            record(
                "scale-rerank",
                "Scale-out: a pool of rerank servers",
                notes,
                "\n".join(table),
                label=args.label,
            )
    if not args.skip_search:
        run_search(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
