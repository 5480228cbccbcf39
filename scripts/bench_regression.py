"""Regression check: run a benchmark script of a base commit and of this working tree alternately in
the same session, and compare their medians as head/base ratios (the machines are noisy: compare
ratios, not figures across runs).

The base commit is checked out with `git worktree add --detach` in a temporary folder, removed at
the end (`--head REF` measures a commit the same way instead of the working tree). Each side runs
its OWN copy of the script, with its own packages first on the path (cwd and PYTHONPATH = that
tree), with the same Python and the side's no-record flag. Rounds go
base, head, head, base, ... so a drift in the machine's load falls on both sides, after `--warmup`
unrecorded runs of each side (default 1), so no recorded run reads a cold node or file. Prints a table,
makes it the `regression-<bench>` current table in BENCHMARKS.md and appends it to the history.

  .venv/bin/python scripts/bench_regression.py --base c27c4c7 --bench reranker --queries 2 --top 8
  .venv/bin/python scripts/bench_regression.py --base c27c4c7 --bench api --rounds 3 -- --pages 2000
  .venv/bin/python scripts/bench_regression.py --base d238104 --bench index -- --rounds 1
  .venv/bin/python scripts/bench_regression.py --base 0dee4e3 --bench first-stage --rounds 1 \
      --base-args "--workdir /data/base --reuse" --head-args "--workdir /data/head --reuse" \
      -- --sizes 1000000 --backends sqlite --queries 100
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from benchlib import record  # noqa: E402


@dataclass(frozen=True)
class Bench:
    script: str  # relative to a tree's root
    no_record: str  # the script's flag that keeps BENCHMARKS.md as it is
    keys: tuple[str, ...]  # the columns naming a row
    figures: tuple[str, ...]  # the columns compared


BENCHES = {
    "reranker": Bench("scripts/bench_reranker.py", "--no-record", ("workload", "method"), ("pairs/s", "p50 ms")),
    "api": Bench("scripts/bench_api.py", "--no-write", ("reranker", "mode", "top_k", "clients"),
                 ("req/s", "p50 ms")),
    "index": Bench("scripts/bench_index.py", "--no-record", ("corpus", "embedder", "workers"),
                   ("index pages/CPU-s", "index CPU ms/page after start-up")),
    "first-stage": Bench("scripts/bench_first_stage.py", "--no-record", ("backend", "pages", "mode"),
                         ("p50 ms", "p95 ms")),
}  # fmt: skip
PACKAGES = ("reranker", "docstore", "search_api", "tests.fixtures.tiny_m0")
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+$")
Row = dict[str, str]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def side_env(tree: Path) -> dict[str, str]:
    """This environment with `tree` first on the path (before the venv's editable install of /work/main)."""
    rest = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(tree) + (os.pathsep + rest if rest else "")}


def probe(tree: Path) -> None:
    """Import the packages as a script in `tree` would (without the cwd on the path) and check they
    come from `tree`, not from the editable install."""
    code = f"import sys, importlib; del sys.path[0]; [print(importlib.import_module(m).__file__) for m in {PACKAGES!r}]"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=side_env(tree), check=True,
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    wrong = [f for f in out if not Path(f).resolve().is_relative_to(tree.resolve())]
    print(f"probe {tree}: {', '.join(out)}", file=sys.stderr)
    if wrong or len(out) != len(PACKAGES):
        raise SystemExit(f"{tree}: imported from outside the tree: {wrong or out}")


def check_flags(tree: Path, bench: Bench, args: list[str]) -> None:
    """Refuse flags this side's script does not define (give them per side with --base-args/--head-args)."""
    text = (tree / bench.script).read_text(encoding="utf-8")
    missing = [
        a.split("=", 1)[0] for a in args if a.startswith("--") and f'"{a.split("=", 1)[0]}"' not in text
    ]
    if missing:
        raise SystemExit(f"{tree / bench.script} has no {', '.join(missing)} (flags spelled out in full; "
                         "use --base-args/--head-args for per-side flags)")  # fmt: skip


def tables(stdout: str) -> list[Row]:
    """Every row of every Markdown table in `stdout`, as {header: cell}."""
    lines = [line.strip() for line in stdout.splitlines()]
    rows: list[Row] = []
    for i in range(len(lines) - 1):
        if lines[i].startswith("|") and SEPARATOR.match(lines[i + 1]) and not SEPARATOR.match(lines[i]):
            header = [c.strip() for c in lines[i].strip("|").split("|")]
            for line in lines[i + 2 :]:
                if not line.startswith("|"):
                    break
                rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=False)))
    return rows


def run_side(name: str, tree: Path, bench: Bench, args: list[str]) -> dict[tuple[str, ...], dict[str, float]]:
    cmd = [sys.executable, bench.script, bench.no_record, *args]
    print(f"[{name}] {shlex.join(cmd)}  (in {tree})", file=sys.stderr, flush=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=side_env(tree), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"[{name}] exited {proc.returncode}:\n{proc.stderr[-4000:]}\n{proc.stdout[-2000:]}")
    found: dict[tuple[str, ...], dict[str, float]] = {}
    for row in tables(proc.stdout):
        needed = bench.keys + bench.figures
        if not all(c in row for c in needed):
            raise SystemExit(f"[{name}] a table lacks one of {needed}: has {list(row)}")
        found[tuple(row[k] for k in bench.keys)] = {f: float(row[f]) for f in bench.figures}
    if not found:
        raise SystemExit(f"[{name}] printed no table:\n{proc.stdout[-2000:]}")
    figures = "; ".join(
        "/".join(k) + ": " + ", ".join(f"{f} {v:g}" for f, v in fs.items()) for k, fs in found.items()
    )
    print(
        f"[{name}] {time.perf_counter() - t:.0f} s, load {os.getloadavg()[0]:.1f}: {figures}", file=sys.stderr
    )
    return found


def fmt(x: float) -> str:
    return "—" if x != x else f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        allow_abbrev=False,
        epilog="Other arguments (or all after --) go to both sides' bench script.",
    )
    ap.add_argument("--base", required=True, help="the commit to compare against (e.g. c27c4c7)")
    ap.add_argument("--head", help="a commit to measure instead of the working tree (also as a worktree)")
    ap.add_argument("--bench", required=True, choices=sorted(BENCHES))
    ap.add_argument("--rounds", type=int, default=2, help="runs of each side (median)")
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="unrecorded runs of each side first (default 1): a node just started or an index just "
        "built reads cold from disk on its first run",
    )
    ap.add_argument("--base-args", default="", help="extra arguments for the base side only (one string)")
    ap.add_argument("--head-args", default="", help="extra arguments for the head side only (one string)")
    ap.add_argument("--no-record", action="store_true", help="do not update BENCHMARKS.md or its history")
    ap.add_argument("--label", default="", help="what changed, recorded with the run")
    args, common = ap.parse_known_args()
    common = [a for a in common if a != "--"]
    bench = BENCHES[args.bench]
    base_sha = git("rev-parse", "--short", f"{args.base}^{{commit}}")
    head_desc = (
        git("rev-parse", "--short", f"{args.head}^{{commit}}")
        if args.head
        else git("describe", "--always", "--dirty")
    )
    side_args = {"base": common + shlex.split(args.base_args), "head": common + shlex.split(args.head_args)}

    results: dict[str, list[dict[tuple[str, ...], dict[str, float]]]] = {"base": [], "head": []}
    tmp = Path(tempfile.mkdtemp(prefix="folio-bench-regression-"))
    trees = {"base": tmp / "base", "head": tmp / "head" if args.head else REPO}
    try:
        for side, sha in (("base", base_sha), ("head", head_desc if args.head else None)):
            if sha:
                git("worktree", "add", "--detach", str(trees[side]), sha)
        for side, tree in trees.items():
            check_flags(tree, bench, side_args[side])
            probe(tree)
        for r in range(args.warmup):
            for side in ("base", "head"):
                run_side(f"{side} warm-up {r + 1}/{args.warmup}", trees[side], bench, side_args[side])
        for r in range(args.rounds):
            for side in ("base", "head") if r % 2 == 0 else ("head", "base"):
                results[side].append(
                    run_side(f"{side} {r + 1}/{args.rounds}", trees[side], bench, side_args[side])
                )
    finally:
        for tree in trees.values():
            if tree.is_relative_to(tmp) and tree.exists():
                git("worktree", "remove", "--force", str(tree))
        os.rmdir(tmp)

    keys = list(dict.fromkeys(k for side in ("head", "base") for run in results[side] for k in run))

    def median(side: str, key: tuple[str, ...], figure: str) -> float:
        values = [run[key][figure] for run in results[side] if key in run]
        return statistics.median(values) if values else float("nan")

    header = [*bench.keys, "figure", f"base {base_sha}", f"head {head_desc}", "head/base"]
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in keys:
        for figure in bench.figures:
            b, h = median("base", key, figure), median("head", key, figure)
            ratio = f"{h / b:.2f}" if b == b and h == h and b else "—"
            table.append("| " + " | ".join([*key, figure, fmt(b), fmt(h), ratio]) + " |")
    notes = (
        f"`{bench.script}` of base {base_sha} and of {'commit' if args.head else 'the working tree'} {head_desc}, run "
        f"alternately in one session, {args.rounds} runs each (base, head, head, base, …) after "
        f"{args.warmup} unrecorded warm-up run{'' if args.warmup == 1 else 's'} each, median per side. "
        f"Arguments: base `{shlex.join(side_args['base']) or '(defaults)'}`, "
        f"head `{shlex.join(side_args['head']) or '(defaults)'}`. head/base above 1 is faster for "
        "pairs/s, req/s and pages/CPU-s, slower for p50 ms and CPU ms/page. Load average at the end: "
        f"{os.getloadavg()[0]:.1f} (shared machine)."
    )
    print("\n".join(table))
    print(notes)
    if not args.no_record:
        record(f"regression-{args.bench}", f"Regression: {args.bench}, head vs {base_sha}", notes,
               "\n".join(table), label=args.label)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
