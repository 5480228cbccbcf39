"""`folio rerank` (score candidates once and print them in order) and `folio rerank-server`
(serve a local model over the Jina, Cohere and vLLM rerank APIs). torch loads only when a command runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from reranker.types import Candidate, ImageInput, Query, RerankOutput


class CliError(Exception):
    pass


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("rerank", help="score candidates with jina-reranker-m0")
    p.add_argument("--model", required=True, help="local jina-reranker-m0 folder (or a model id)")
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--query", help="query text")
    q.add_argument("--query-image", type=Path, help="query image file")
    p.add_argument("--doc", action="append", default=[], help="a text candidate (repeatable)")
    p.add_argument(
        "--doc-image", action="append", default=[], type=Path, help="an image candidate (repeatable)"
    )
    p.add_argument("--top-n", type=int, help="show only the best N")
    p.add_argument("--json", action="store_true", help="print the Jina-shaped response object")
    _model_options(p)
    p.set_defaults(func=run_rerank)

    s = subparsers.add_parser(
        "rerank-server", help="serve a local m0 model over the Jina, Cohere and vLLM rerank APIs"
    )
    s.add_argument("--model", required=True, help="local jina-reranker-m0 folder (or a model id)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8081)
    s.add_argument("--max-queue", type=int, default=64, help="waiting requests before answering 503")
    s.add_argument(
        "--max-batch-requests", type=int, default=8, help="concurrent requests scored together (default 8)"
    )
    s.add_argument(
        "--max-batch-tokens",
        type=int,
        help="padded tokens (text + visual) per model batch (default 32768 on a GPU, 8192 on a CPU)",
    )
    s.add_argument("--batch-window-ms", type=float, default=5.0, help="how long to gather a batch")
    s.add_argument(
        "--max-body-mb", type=float, default=64.0,
        help="largest request body, in MiB (413 past it, also for chunked bodies, without reading the rest)",
    )  # fmt: skip
    s.add_argument(
        "--api-key",
        default=os.environ.get("FOLIO_RERANK_API_KEY"),
        help="require this bearer key (default: $FOLIO_RERANK_API_KEY)",
    )
    s.add_argument("--allow-urls", action="store_true", help="let clients send image URLs to fetch")
    s.add_argument(
        "--store", help="resolve documents `folio-page:<page_id>` to that page of this store (a store URL)"
    )
    s.add_argument(
        "--candidate-modality",
        choices=["image", "text", "auto"],
        default=os.environ.get("FOLIO_CANDIDATE_MODALITY", "image"),
        help="what a referenced PDF page is scored as, as in the search API "
        "(default: $FOLIO_CANDIDATE_MODALITY or image)",
    )
    s.add_argument("--vision-cache-mb", type=int, help="vision features of pages kept, LRU (default 512)")
    s.add_argument(
        "--prefix-cache-mb", type=int, help="document key/value prefixes kept, LRU (default 2048; 0: off)"
    )
    _model_options(s)
    s.set_defaults(func=run_server)


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16")


def load_model(args: argparse.Namespace, **extra: Any) -> Any:
    from reranker.checkpoint import resolve_checkpoint
    from reranker.errors import ModelLoadError

    try:
        resolve_checkpoint(args.model)  # before torch: a missing model is the first thing to say
    except ModelLoadError as exc:
        raise CliError(str(exc)) from None
    try:
        from reranker.m0.reranker import M0Reranker  # says which extra to install when torch is missing

        return M0Reranker.from_pretrained(args.model, device=args.device, dtype=args.dtype, **extra)
    except ImportError as exc:
        raise CliError(str(exc)) from exc
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CliError(f"cannot load the model from {args.model}: {exc}") from exc


def _candidates(args: argparse.Namespace) -> list[Candidate]:
    docs: list[Candidate] = list(args.doc)
    for path in args.doc_image:
        if not path.is_file():
            raise CliError(f"--doc-image {path}: no such file")
        docs.append(ImageInput(path))
    if not docs:
        raise CliError("give at least one candidate with --doc TEXT or --doc-image PATH")
    return docs


def _query(args: argparse.Namespace) -> Query:
    if args.query_image is not None:
        if not args.query_image.is_file():
            raise CliError(f"--query-image {args.query_image}: no such file")
        return ImageInput(args.query_image)
    if not args.query.strip():
        raise CliError("--query is empty")
    return str(args.query)


def _describe(doc: Candidate) -> tuple[str, str]:
    if isinstance(doc, ImageInput):
        return "image", str(doc.image)
    text = doc if isinstance(doc, str) else doc.text
    text = " ".join(text.split())
    return "text", text if len(text) <= 60 else text[:57] + "..."


def format_table(out: RerankOutput, docs: list[Candidate]) -> str:
    rows = [("rank", "index", "score", "kind", "candidate")]
    for rank, r in enumerate(out.results, 1):
        kind, what = _describe(docs[r.index])
        score = f"{r.relevance_score:.4f}" if r.error is None else "error"
        rows.append(
            (str(rank), str(r.index), score, kind, what if r.error is None else f"{what} ({r.error})")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(
            c.rjust(w) if i < 3 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False))
        )
        + "  "
        + row[4]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def to_json(out: RerankOutput) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for r in out.results:
        item: dict[str, Any] = {"index": r.index, "relevance_score": r.relevance_score}
        if r.error is not None:
            item["error"] = r.error
        results.append(item)
    return {"model": out.model, "usage": {"total_tokens": out.total_tokens}, "results": results}


def run_rerank(args: argparse.Namespace) -> int:
    try:
        if args.top_n is not None and args.top_n < 1:
            raise CliError("--top-n must be at least 1")
        query, docs = _query(args), _candidates(args)
        model = load_model(args)
    except CliError as exc:
        print(f"folio rerank: {exc}", file=sys.stderr)
        return 2
    try:
        out = model.rerank(query, docs, top_n=args.top_n)
    finally:
        model.close()
    print(json.dumps(to_json(out), indent=2) if args.json else format_table(out, docs))
    failed = [r for r in out.results if r.error is not None]
    for r in failed:
        print(f"folio rerank: candidate {r.index} could not be scored: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def run_server(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from reranker.serving.server import RerankServerSettings, create_rerank_app

        settings = RerankServerSettings(
            model_path=args.model,
            device=args.device,
            dtype=args.dtype,
            api_key=args.api_key or None,
            max_queue=args.max_queue,
            max_batch_requests=args.max_batch_requests,
            max_batch_tokens=args.max_batch_tokens,
            batch_window_ms=args.batch_window_ms,
            max_body_mb=args.max_body_mb,
            allow_urls=args.allow_urls,
            store_url=args.store or None,
            candidate_modality=args.candidate_modality,
        )
        if settings.store_url and not settings.api_key and args.host not in ("127.0.0.1", "localhost", "::1"):
            print(
                "folio rerank-server: warning: --store without --api-key: any client that reaches this "
                "server can have any page of the store scored",
                file=sys.stderr,
            )
        # Load before serving, so a bad model folder is a clear error, not a failed startup.
        caches = {k: v for k in ("vision_cache_mb", "prefix_cache_mb") if (v := getattr(args, k)) is not None}
        if any(v < 0 for v in caches.values()):
            raise CliError("--vision-cache-mb and --prefix-cache-mb must be 0 or more")
        model = load_model(
            args, allow_urls=args.allow_urls, max_batch_tokens=settings.max_batch_tokens, **caches
        )
    except (CliError, ValueError) as exc:
        print(f"folio rerank-server: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_rerank_app(settings, scorer=model)
        print(
            f"folio rerank-server: serving {model.model_name} on http://{args.host}:{args.port} "
            "(Jina and Cohere v1 /v1/rerank, Cohere /v2/rerank, vLLM /score and /rerank, /v1/models)",
            file=sys.stderr,
        )
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    finally:
        model.close()
    return 0
