"""`folio search`: first-stage search (BM25, kNN or hybrid) from the command line."""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
from typing import Any

from docstore.embedders import EmbedderUnavailable
from docstore.embedders.base import encode_queries
from docstore.embedders.binding import query_embedder
from docstore.page_highlights import Highlights, highlights_json, read_highlights
from docstore.protocol import Store, StoreUnavailable
from docstore.schema import MAX_TOP_K, Filters, Hit, SearchMode, SearchRequest
from docstore.store import DEFAULT_STORE_URL, open_store

_MARK = re.compile(r"<mark>(.*?)</mark>", re.DOTALL)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("search", help="first-stage search (bm25, knn, hybrid)")
    parser.add_argument("query", help="the search text")
    parser.add_argument("--mode", choices=[m.value for m in SearchMode], default=SearchMode.hybrid.value)
    parser.add_argument("--top-k", type=int, default=10, help=f"number of hits (1-{MAX_TOP_K}, default 10)")
    parser.add_argument("--collection", default=None, help="only pages of this collection")
    parser.add_argument(
        "--feedback",
        action="store_true",
        help="with --mode bm25: expand the query from its best pages (finds more, a second search)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--store", default=None, help=f"store URL (default $FOLIO_STORE or {DEFAULT_STORE_URL})"
    )
    parser.set_defaults(func=run)


def _fail(message: str, code: int = 1) -> int:
    print(f"folio search: {message}", file=sys.stderr)
    return code


def _request(store: Store, args: argparse.Namespace) -> SearchRequest | str:
    """The request to run, or an error message."""
    mode = SearchMode(args.mode)
    if args.feedback and mode != SearchMode.bm25:
        return f"--feedback applies to --mode bm25, not {mode.value}"
    vector = None
    if mode != SearchMode.bm25:
        embedder = query_embedder(store)
        if embedder is None:
            if mode == SearchMode.knn:
                return "this store records no embedder, so it holds no vectors: use --mode bm25"
            mode = SearchMode.bm25  # hybrid degrades to its lexical half
        else:
            vector = encode_queries(embedder, [args.query])[0].tolist()
    return SearchRequest(
        query=args.query,
        vector=vector,
        mode=mode,
        top_k=args.top_k,
        filters=Filters(collection=args.collection),
        feedback=args.feedback,
    )


def _terminal_snippet(snippet: str, bold: bool) -> str:
    marked = _MARK.sub(lambda m: f"\033[1m{m.group(1)}\033[0m" if bold else f"[{m.group(1)}]", snippet)
    return html.unescape(marked)


def _hit_json(hit: Hit, found: Highlights) -> dict[str, Any]:
    page = hit.page
    return {
        "source": page.source,
        "page_number": page.page_number,
        "score": hit.score,
        "snippet": hit.snippet,
        "doc_id": page.doc_id,
        "page_id": page.page_id,
        "title": page.title,
        "collection": page.collection,
        **highlights_json(found),
    }


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.top_k <= MAX_TOP_K:
        return _fail(f"--top-k must be between 1 and {MAX_TOP_K}", 2)
    url = args.store or os.environ.get("FOLIO_STORE") or DEFAULT_STORE_URL
    try:
        store = open_store(url)
    except ValueError as exc:
        return _fail(str(exc), 2)
    try:
        if store.count() == 0:
            return _fail(
                f"the store {url} is empty or missing: index documents first with `folio index PATH`"
            )
        request = _request(store, args)
        if isinstance(request, str):
            return _fail(request)
        hits = store.search(request)
        # the --json hits carry highlight boxes as the API's do (the terminal shows none)
        marks = read_highlights(store, [h.page for h in hits], args.query, None) if args.json else {}
    except StoreUnavailable as exc:
        return _fail(f"store unavailable: {exc}", 2)
    except (EmbedderUnavailable, ValueError) as exc:
        return _fail(str(exc), 2)
    finally:
        store.close()
    if args.json:
        found = [_hit_json(h, marks[h.page.page_id]) for h in hits]
        out = {"query": args.query, "mode": request.mode.value, "hits": found}
        print(json.dumps(out, ensure_ascii=False))
        return 0
    if not hits:
        print(f"no results for {args.query!r} ({request.mode.value})")
        return 0
    bold = sys.stdout.isatty()
    for hit in hits:
        page = hit.page
        print(f"{hit.rank:>3}. {hit.score:8.4f}  {page.source}  p.{page.page_number}/{page.page_count}")
        if hit.snippet:
            print(f"     {_terminal_snippet(hit.snippet, bold)}")
    return 0
