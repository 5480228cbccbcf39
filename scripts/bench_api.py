"""Search API under concurrent load on loopback: requests/s, p50/p95 latency, and the API's own
overhead (total - first stage - rerank, from each response's timings_ms), with the reranker off
and with a tiny random m0 checkpoint; then an overload burst that must be shed with 503/429.

The store is SQLite with synthetic pages written straight into it (hash embedder). The server
runs as `folio serve` in a subprocess. Prints a table, makes it the search API's current table in
BENCHMARKS.md and appends it to docs/benchmarks-history.md.

    .venv/bin/python scripts/bench_api.py [--pages 10000] [--seconds 10] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchlib import record  # noqa: E402

WORDS = [f"w{i}" for i in range(5000)]
QUERY_WORDS = WORDS[20:1000]  # mid-frequency words: every query has candidates, none matches everything


def fill_store(url: str, pages: int, seed: int = 0) -> None:
    from docstore.embedders import get_embedder
    from docstore.embedders.binding import record_embedder
    from docstore.schema import DocumentInfo, Page, page_id
    from docstore.store import open_store

    rng = random.Random(seed)
    embedder = get_embedder("hash")
    store = open_store(url)
    record_embedder(store, embedder)
    per_doc = 20
    for start in range(0, pages, per_doc):
        doc_id = f"doc{start // per_doc:05d}"
        count = min(per_doc, pages - start)
        store.begin_document(
            DocumentInfo(doc_id=doc_id, collection="bench", source=f"/bench/{doc_id}.pdf", content_hash=doc_id,
                         page_count=count, pages_stored=0, complete=False)
        )  # fmt: skip
        batch = []
        for n in range(1, count + 1):
            # Zipf-like word choice: a few frequent words, a long tail.
            words = [WORDS[min(int(rng.paretovariate(1.1)) - 1, len(WORDS) - 1)] for _ in range(120)]
            batch.append(
                Page(page_id=page_id(doc_id, n), doc_id=doc_id, collection="bench", source=f"/bench/{doc_id}.pdf",
                     content_hash=doc_id, page_number=n, page_count=count, kind="pdf", text=" ".join(words),
                     acl=["g1"] if rng.random() < 0.2 else [])
            )  # fmt: skip
        vectors = embedder.encode([p.text for p in batch])
        for page, vec in zip(batch, vectors, strict=True):
            page.embedding = vec.tolist()
        store.upsert_pages(batch)
        store.finish_document(doc_id)
    store.close()


def start_server(
    url: str, reranker: str, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    from tests.fixtures.api_server import ServerStartError, free_port, wait_until_healthy

    port = free_port()
    cmd = [sys.executable, "-m", "search_api.main", "serve", "--store", url, "--port", str(port),
           "--reranker", reranker, "--anonymous", "--log-level", "warning"]  # fmt: skip
    child_env = {**os.environ, "FOLIO_EMBEDDER": "hash", **env}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=child_env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, 180, lambda: log.read_text()[-2000:])
    except ServerStartError as exc:
        proc.terminate()
        raise SystemExit(str(exc)) from None
    return proc, base


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def query_body(rng: random.Random, mode: str, top_k: int) -> dict[str, object]:
    return {"query": " ".join(rng.sample(QUERY_WORDS, 2)), "mode": mode, "top_k": top_k, "top_n": 10}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc; nan where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


async def load(
    base: str, mode: str, top_k: int, concurrency: int, seconds: float, max_requests: int, server_pid: int
) -> dict:
    """Closed loop: `concurrency` clients each send the next request when the last one answers.
    CPU ms per request of the server and of this client say what the server could do on free
    cores when the client and other jobs share them (each core gives 1000 CPU ms per second)."""
    rng = random.Random(1)
    latencies: list[float] = []
    overheads: list[float] = []
    http: list[float] = []  # client latency - server total: HTTP, parsing, serialisation, event loop
    statuses: dict[int, int] = {}
    reranked = 0
    deadline = time.perf_counter() + seconds
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        for _ in range(min(20, max_requests)):  # warm-up: embedder, caches, connections
            await client.post("/v1/search", json=query_body(rng, mode, top_k))

        async def worker() -> None:
            nonlocal sent, reranked
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                t = time.perf_counter()
                resp = await client.post("/v1/search", json=query_body(rng, mode, top_k))
                latency = (time.perf_counter() - t) * 1000
                latencies.append(latency)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                if resp.status_code == 200:
                    data = resp.json()
                    tm = data["timings_ms"]
                    overheads.append(tm["total"] - tm["first_stage"] - tm["rerank"])
                    http.append(latency - tm["total"])
                    reranked += data["reranked"]

        start, server_cpu, client_cpu = time.perf_counter(), cpu_seconds(server_pid), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        server_cpu, client_cpu = cpu_seconds(server_pid) - server_cpu, time.process_time() - client_cpu
    return {
        "requests": len(latencies), "rps": len(latencies) / elapsed, "p50": pct(latencies, 50),
        "p95": pct(latencies, 95), "overhead_p50": pct(overheads, 50), "overhead_p95": pct(overheads, 95), "http_p50": pct(http, 50),
        "statuses": statuses, "reranked": reranked, "server_cpu_ms": server_cpu * 1000 / max(1, len(latencies)),
        "client_cpu_ms": client_cpu * 1000 / max(1, len(latencies)),
    }  # fmt: skip


async def burst(base: str, n: int, top_k: int) -> dict[int, int]:
    """`n` searches at once, far past the server's search slots: the excess must be refused."""
    rng = random.Random(2)
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        resps = await asyncio.gather(
            *(client.post("/v1/search", json=query_body(rng, "bm25", top_k)) for _ in range(n)),
            return_exceptions=True,
        )
    for r in resps:
        code = r.status_code if isinstance(r, httpx.Response) else -1
        statuses[code] = statuses.get(code, 0) + 1
    return statuses


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per load run")
    parser.add_argument("--max-requests", type=int, default=5000, help="per load run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rerank-top-k", type=int, default=8, help="candidates the tiny reranker scores")
    parser.add_argument("--burst", type=int, default=200, help="simultaneous requests in the overload run")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md or its history")
    parser.add_argument(
        "--no-rerank", action="store_true", help="only the reranker-off runs (no overload run)"
    )
    parser.add_argument("--label", default="", help="what changed, recorded with the run")
    args = parser.parse_args()

    from tests.fixtures.tiny_m0 import build_tiny_m0

    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="folio-bench-api-") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work}/bench.db"
        t = time.perf_counter()
        fill_store(url, args.pages)
        print(f"store: {args.pages} synthetic pages in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        model = None if args.no_rerank else build_tiny_m0(work / "tiny_m0")
        runs = [("off", "none", "bm25", 50, {}), ("off", "none", "hybrid", 50, {})]
        if model is not None:
            runs.append((f"tiny m0 (text, top_k={args.rerank_top_k})", f"local:{model}", "bm25", args.rerank_top_k,
                         {"FOLIO_CANDIDATE_MODALITY": "text"}))  # fmt: skip
        current: tuple[str, dict[str, str]] | None = None
        proc = None
        base = ""
        for label, spec, mode, top_k, env in runs:
            if current != (spec, env):
                if proc is not None:
                    stop(proc)
                proc, base = start_server(url, spec, env, work / "server.log")
                current = (spec, env)
            assert proc is not None
            res = asyncio.run(
                load(base, mode, top_k, args.concurrency, args.seconds, args.max_requests, proc.pid)
            )
            print(f"{label} {mode}: {res}", file=sys.stderr)
            rows.append([label, mode, str(top_k), str(args.concurrency), str(res["requests"]), f"{res['rps']:.1f}",
                         f"{res['p50']:.1f}", f"{res['p95']:.1f}", f"{res['overhead_p50']:.2f}",
                         f"{res['overhead_p95']:.2f}", f"{res['http_p50']:.1f}", f"{res['server_cpu_ms']:.1f}",
                         f"{res['client_cpu_ms']:.1f}", fmt_statuses(res["statuses"])])  # fmt: skip
        if proc is not None:
            stop(proc)
        shed: dict[int, int] | None = None
        if model is not None:
            # Overload: few search slots, a reranker that takes a while, a burst far beyond capacity.
            env = {"FOLIO_MAX_CONCURRENT_SEARCHES": "4", "FOLIO_CANDIDATE_MODALITY": "text"}
            proc, base = start_server(url, f"local:{model}", env, work / "server.log")
            shed = asyncio.run(burst(base, args.burst, args.rerank_top_k))
            stop(proc)
            print(f"overload burst of {args.burst}: {shed}", file=sys.stderr)

    header = ["reranker", "mode", "top_k", "clients", "requests", "req/s", "p50 ms", "p95 ms",
              "overhead p50 ms", "overhead p95 ms", "http p50 ms", "server CPU ms/req", "client CPU ms/req",
              "statuses"]  # fmt: skip
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table += ["| " + " | ".join(r) + " |" for r in rows]
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    notes = (
        f"SQLite store, {args.pages:,} synthetic pages (hash embedder), one uvicorn process, httpx async "
        f"clients on loopback, {args.seconds:g} s per run. No raw baseline: the overhead columns are the API's "
        "own cost inside the same requests (total - first stage - rerank, from the server's timings_ms); "
        "http = client latency - server total (HTTP, JSON, event loop, queueing). Server/client CPU ms/req: "
        "CPU time of the server process and of the load client per request (capacity on free cores ≈ "
        f"1000 × cores / server CPU ms). Load average at the end: {load_avg:.1f} (the machine is shared: "
        "numbers are noisy)."
    )
    overload = ""
    if shed is not None:
        overload = f"Overload: {args.burst} simultaneous searches, 4 search slots, tiny reranker: {fmt_statuses(shed)}."
    print("\n".join(table))
    print(notes)
    if overload:
        print(overload)
    if not args.no_write:
        record("search-api", "Search API", notes, "\n".join(table), extra=overload, label=args.label)
    return 0


def fmt_statuses(statuses: dict[int, int]) -> str:
    return ", ".join(f"{code}×{n}" for code, n in sorted(statuses.items()))


if __name__ == "__main__":
    sys.exit(main())
