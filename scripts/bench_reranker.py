"""Benchmark the local m0 reranker: pairs/s and p50 latency for top-32 calls (all text ~512 tokens;
all page images; mixed), against a naive baseline in the same run (fixed batches of 8 in the given
order, padded, prepared on the calling thread with Qwen2-VL's stock image processor, no cache). The pipeline runs cold (no cache), with the
pages' vision features cached (warm-vision) and with the candidates' document key/value prefixes
cached (warm-prefix: a second query over the same candidates). Prints a table, makes it the
reranker's current table in BENCHMARKS.md and appends it to docs/benchmarks-history.md.

  .venv/bin/python scripts/bench_reranker.py                 # CPU, small random model
  .venv/bin/python scripts/bench_reranker.py --full-size     # real Qwen2-VL-2B shape (random), for a GPU
  .venv/bin/python scripts/bench_reranker.py --full-size --dims small --no-record   # that code path, tiny
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchlib import machine, record  # noqa: E402

from reranker.m0.loading import build_empty, load_config  # noqa: E402
from reranker.m0.prepare import Preparer  # noqa: E402
from reranker.m0.prompts import left_pad  # noqa: E402
from reranker.m0.reranker import M0Options, M0Reranker  # noqa: E402
from reranker.m0.vision import ImagePreprocessor, VisionCache  # noqa: E402
from reranker.types import ImageInput  # noqa: E402
from tests.fixtures.tiny_m0 import build_tiny_m0, tiny_config  # noqa: E402

SMALL = {"hidden": 128, "layers": 2, "heads": 4, "kv_heads": 2, "intermediate": 512,
         "vision_depth": 2, "vision_embed": 32, "vision_heads": 2}
FULL = {"hidden": 1536, "layers": 28, "heads": 12, "kv_heads": 2, "intermediate": 8960,
        "vision_depth": 32, "vision_embed": 1280, "vision_heads": 16}
WORDS = ("markdown table parser layout model page figure caption section revenue quarter engine "
         "pressure valve index search ranking token vision document query answer result").split()


def page_images(n: int, seed: int) -> list[bytes]:
    """A4 pages at ~100 dpi (above the pixel cap, so the cap sets each one's visual tokens): rendered
    from the shared PDFs when available, else drawn text-like noise."""
    pages: list[bytes] = []
    pdfs = sorted(Path("/work/shared/data/pdfs").glob("*.pdf"))
    try:
        import pymupdf

        for pdf in pdfs:
            try:
                with pymupdf.open(pdf) as doc:
                    for page in doc:
                        pages.append(page.get_pixmap(dpi=100).tobytes("png"))
                        if len(pages) >= n:
                            return pages
            except Exception:
                continue
    except ImportError:
        pass
    rng = np.random.default_rng(seed)
    from PIL import Image

    while len(pages) < n:
        arr = np.full((1169, 827, 3), 255, np.uint8)
        for row in range(60, 1100, 24):
            arr[row:row + 10, 60:60 + int(rng.integers(200, 700))] = rng.integers(0, 80)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        pages.append(buf.getvalue())
    return pages


def text_docs(n: int, tokenizer, seed: int, tokens: int = 512) -> list[str]:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        words = list(rng.choice(WORDS, size=tokens))
        text = " ".join(words)
        while len(tokenizer(text, add_special_tokens=False)["input_ids"]) > tokens:
            words = words[:-8]
            text = " ".join(words)
        docs.append(text)
    return docs


def stock_preparer(r: M0Reranker) -> Preparer:
    """The naive baseline's preparation: Qwen2-VL's own image processor (as the published example
    calls it), no vision or prefix cache."""
    p = r.preparer
    pre = ImagePreprocessor(r.folder, r.options.min_pixels, r.options.max_pixels, fast=False)
    return Preparer(p.tokenizer, pre, VisionCache(0), p.limits, p.max_length, p.image_token_id)


def naive_scores(r: M0Reranker, prep: Preparer, pairs: list[tuple[object, object]], batch: int = 8) -> list[float]:
    """The published example's way: fixed batches in the given order, prepared on this thread with
    the stock image processor, padded to the batch's longest, one vision + language-model pass per
    batch, no cache."""
    out: list[float] = []
    for start in range(0, len(pairs), batch):
        prepared = [prep.encode(i, prep.prepare_side(q, "query"), prep.prepare_side(d, "document"), with_prefix=False)
                    for i, (q, d) in enumerate(pairs[start:start + batch])]
        images = [im for p in prepared for im in p.images]
        embeds = grid = None
        if images:
            pixels = torch.from_numpy(np.concatenate([im.pixel_values for im in images]))
            grid = torch.tensor([im.grid_thw for im in images])
            embeds = torch.cat(r.model.encode_images(pixels, grid))
            grid = grid.to(r.device)
        ids, mask = left_pad([p.encoded for p in prepared], r.runner.pad_id)
        logits = r.model(torch.tensor(ids, device=r.device), torch.tensor(mask, device=r.device), embeds, grid)
        out += torch.sigmoid(logits.float() - 2.65).cpu().tolist()
    return out


def lm_flops(cfg: dict, tokens: int) -> float:
    """Matmul FLOPs of the language model (and head) over `tokens`: 2 x non-embedding params x tokens."""
    h, i, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    kv = h // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    return 2.0 * (L * (h * h * 2 + 2 * h * kv + 3 * h * i) + h * h + h) * tokens


def vision_flops(cfg: dict, images: int, patches_per_image: int) -> float:
    """Matmul FLOPs of the vision tower: its matrices plus attention within each image."""
    v = cfg["vision_config"]
    e, depth, h = v["embed_dim"], v["depth"], cfg["hidden_size"]
    vis_params = depth * (4 * e * e + 2 * e * 4 * e) + 1176 * e + (4 * e) ** 2 + 4 * e * h
    return images * (2.0 * vis_params * patches_per_image + 4 * depth * patches_per_image**2 * e)


def call_tokens(r: M0Reranker, pairs: list[tuple[object, object]]) -> tuple[int, int, list[tuple[int, int]]]:
    """(LM tokens of the whole prompts, LM tokens after the document prefixes, (patches, images) per
    image) for the cost floor; prefixes as the pipeline splits them."""
    p = r.preparer
    total = suffix = 0
    grids = []
    for q, d in pairs:
        pair = p.encode(0, p.prepare_side(q, "query"), p.prepare_side(d, "document"))
        n = len(pair.encoded or [])
        total += n
        suffix += n - (pair.prefix_len or 0)
        grids += [int(np.prod(im.grid_thw)) for im in pair.images]
    return total, suffix, [(g, 1) for g in grids]


def device_name() -> str:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else machine()


def load(args: argparse.Namespace, folder: Path) -> M0Reranker:
    opts = dict(max_length=2048, workers=args.workers)
    if not args.full_size:
        return M0Reranker.from_pretrained(str(folder), device=args.device, dtype=args.dtype, **opts)
    from reranker.m0.loading import load_tokenizer, resolve_attn, resolve_device, resolve_dtype

    dev = resolve_device(args.device)
    model = build_empty(load_config(folder), dev, resolve_dtype(args.dtype, dev), resolve_attn("auto", dev))
    gen = torch.Generator(device=dev).manual_seed(0)
    with torch.no_grad():  # compute does not depend on the weights' values
        for p in model.parameters():
            p.normal_(0.0, 0.02, generator=gen)
    return M0Reranker(model, load_tokenizer(folder), folder, "m0-full-size-random", M0Options(**opts))


METHODS = ("naive", "pipeline cold", "pipeline warm-vision", "pipeline warm-prefix")


def timed_call(r: M0Reranker, naive: Preparer, method: str, query: str, docs: list[object]) -> tuple[float, float]:
    """(wall s, process CPU s) of one top-k call; caches set up per method, outside the timing."""
    if method in ("naive", "pipeline cold"):
        r.vision_cache.clear()  # cold: every page decoded and through the vision tower
        r.prefix_cache.clear()
    elif method == "pipeline warm-vision":
        r.score_pairs([(f"{query} (earlier)", d) for d in docs])  # the pages' vision features cached
        r.prefix_cache.clear()
    else:
        r.score_pairs([(f"{query} (earlier)", d) for d in docs])  # features and prefixes cached
    sync = torch.cuda.synchronize if r.device.type == "cuda" else (lambda: None)
    pairs = [(query, d) for d in docs]
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    naive_scores(r, naive, pairs) if method == "naive" else r.score_pairs(pairs)
    sync()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full-size", action="store_true", help="random model of the real Qwen2-VL-2B shape")
    ap.add_argument("--dims", choices=("small", "full"), help="override the shape (check the --full-size path)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--queries", type=int, default=4, help="timed calls per workload (after one warm-up)")
    ap.add_argument("--top", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workloads", default="mixed,text,images")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--no-record", action="store_true", help="do not update BENCHMARKS.md or its history")
    args = ap.parse_args()

    dims = args.dims or ("full" if args.full_size else "small")
    shape = FULL if dims == "full" else SMALL
    cfg = tiny_config(**shape)
    tmp = tempfile.TemporaryDirectory()
    folder = build_tiny_m0(Path(tmp.name) / "m0", config=cfg) if not args.full_size else Path(tmp.name) / "m0"
    if args.full_size:  # tokenizer + processor + config only; the weights are filled on the device
        import json

        from tests.fixtures.tiny_m0 import write_tokenizer
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(cfg))
        write_tokenizer(folder)
    r = load(args, folder)
    texts = text_docs(args.top, r.tokenizer, seed=1)
    pages = page_images(args.top, seed=2)
    half = args.top // 2
    workloads = {
        "text": texts,
        "images": [ImageInput(p) for p in pages],
        "mixed": [x for pair in zip(texts[:half], (ImageInput(p) for p in pages[:half]), strict=True) for x in pair],
    }
    methods = args.methods.split(",")
    naive = stock_preparer(r)
    rows = []
    for name in args.workloads.split(","):
        docs = workloads[name]
        queries = [f"query {k}: {' '.join(WORDS[k:k + 4])}" for k in range(args.queries + 1)]
        total, suffix, grids = call_tokens(r, [(queries[0], d) for d in docs])
        vis = sum(vision_flops(cfg, 1, g) for g, _ in grids)
        flops = {"naive": lm_flops(cfg, total) + vis, "pipeline cold": lm_flops(cfg, total) + vis,
                 "pipeline warm-vision": lm_flops(cfg, total), "pipeline warm-prefix": lm_flops(cfg, suffix)}
        timings: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
        for k, q in enumerate(queries):
            for method in methods:
                wall_cpu = timed_call(r, naive, method, q, docs)
                if k > 0:  # the first query warms up
                    timings[method].append(wall_cpu)
        base = statistics.median(w for w, _ in timings["naive"]) if "naive" in timings else float("nan")
        for method, ts in timings.items():
            p50 = statistics.median(w for w, _ in ts)
            cpu = statistics.median(c for _, c in ts)
            rows.append((name, method, len(docs) / p50, p50 * 1000, cpu, flops[method] / p50 / 1e12, base / p50))
    r.close()

    size = ("full-size (Qwen2-VL-2B shape, random)" if dims == "full"
            else "small random ({hidden}h x {layers}L, vision {vision_embed} x {vision_depth})".format(**shape))
    notes = (f"{size}, {r.device.type} "
             f"{str(next(r.model.parameters()).dtype).removeprefix('torch.')}, top-{args.top} per call, "
             f"{args.queries} timed queries per workload (median). cold: no cache; warm-vision: the pages' "
             "vision features cached (same pages, new query); warm-prefix: the candidates' document key/value "
             "prefixes cached (a second query over the same candidates: only the query's tokens run). "
             "naive: batches of 8 in the given order, padded, stock image processor, no cache. TFLOP/s = cost floor of the work that method must do (no padding) / time; CPU s = process CPU "
             "time per call (all threads). × naive against the naive baseline of the same run. "
             f"Load average at the end: {os.getloadavg()[0]:.1f} (shared machine: noisy when above the core count).")
    table = ["| workload | method | pairs/s | p50 ms | CPU s | TFLOP/s | × naive |", "|---|---|---|---|---|---|---|"]
    table += [f"| {w} | {m} | {ps:.1f} | {ms:.0f} | {c:.2f} | {tf:.4f} | {sp:.2f} |" for w, m, ps, ms, c, tf, sp in rows]
    print(notes)
    print("\n".join(table))
    if not args.no_record:
        record("reranker", "Reranker", notes, "\n".join(table), where=device_name())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
