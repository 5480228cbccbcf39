"""`folio index`, `folio delete`, `folio status`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from docstore.embedders import DEFAULT_EMBEDDER
from docstore.protocol import Store, StoreUnavailable
from docstore.store import DEFAULT_STORE_URL, open_store


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("index", help="index PDF and text files into the store")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (PDF, .txt, .md)")
    _store_arg(p)
    p.add_argument("--collection", default="default", help="collection name (default: default)")
    p.add_argument("--groups", default="", help="comma-separated ACL groups for these pages (empty: public)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU cores)")
    p.add_argument(
        "--embedder",
        default=None,
        help=f"embedder name (default: the store's, else $FOLIO_EMBEDDER, else {DEFAULT_EMBEDDER})",
    )
    p.add_argument("--page-timeout", type=float, default=60.0, help="seconds per page before it is skipped")
    p.add_argument("--no-ocr", action="store_true", help="do not OCR pages without a text layer")
    p.add_argument(
        "--embed-in",
        choices=["auto", "workers", "parent"],
        default="auto",
        help="embed pages in the worker processes or batched in the main one (auto: as the embedder says)",
    )
    p.add_argument(
        "--bulk-load",
        action="store_true",
        help="first load of a large collection (OpenSearch): no refresh and no replica until the run ends, "
        "so the new pages show in searches only then",
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_index)

    d = subparsers.add_parser("delete", help="delete indexed documents")
    which = d.add_mutually_exclusive_group(required=True)
    which.add_argument("--doc", help="document id")
    which.add_argument("--source", help="file path as indexed")
    which.add_argument("--collection", help="every document of a collection")
    _store_arg(d)
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_delete)

    s = subparsers.add_parser("status", help="show what the store holds")
    _store_arg(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None, help=f"store URL (default: $FOLIO_STORE or {DEFAULT_STORE_URL})")


def _fail(message: str, code: int = 2) -> int:
    print(f"folio: {message}", file=sys.stderr)
    return code


def _missing(store: Store) -> str:
    return f"no store at {store.url}: nothing has been indexed there"


def cmd_index(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from docstore.embedders import EmbedderUnavailable
    from docstore.embedders.binding import EmbedderMismatch
    from indexer.pipeline import Indexer
    from indexer.report import print_summary
    from indexer.sources import NoSuchPath
    from indexer.summary import IndexOptions

    try:
        options = IndexOptions(
            collection=args.collection,
            groups=[g.strip() for g in args.groups.split(",") if g.strip()],
            embedder=args.embedder,
            page_timeout=args.page_timeout,
            ocr=not args.no_ocr,
            quiet=args.quiet or args.json and not sys.stderr.isatty(),
            embed_in=args.embed_in,
            bulk_load=args.bulk_load,
            **({"workers": args.workers} if args.workers is not None else {}),
        )
    except ValidationError as exc:
        return _fail(f"bad option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
    missing = [p for p in args.paths if not Path(p).expanduser().exists()]
    if missing:
        return _fail(f"no such file or folder: {', '.join(missing)}")
    try:
        store = open_store(args.store)
        if not store.ping():
            return _fail(f"store unreachable: {store.url}")
        try:
            summary = Indexer(store, options).run(args.paths)
        finally:
            store.close()
    except (StoreUnavailable, EmbedderMismatch, EmbedderUnavailable, NoSuchPath, ValueError) as exc:
        return _fail(str(exc))
    if args.json:
        print(summary.model_dump_json())
    else:
        print_summary(summary)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from docstore.schema import Filters

    try:
        store = open_store(args.store)
        try:
            if not store.exists():
                return _fail(_missing(store), 1)
            if args.doc:
                docs = [d for d in [store.get_document(args.doc)] if d]
                nothing = f"no document {args.doc!r} in {store.url}"
            elif args.source:
                wanted = str(Path(args.source).expanduser().resolve())
                docs = [d for d in store.list_documents() if d.source in (wanted, args.source)]
                nothing = f"{args.source} was never indexed into {store.url}"
            else:
                docs = store.list_documents(Filters(collection=args.collection))
                nothing = f"no collection {args.collection!r} in {store.url}"
            if not docs:
                return _fail(nothing, 1)
            pages = sum(store.delete_document(d.doc_id) for d in docs)
        finally:
            store.close()
    except (StoreUnavailable, ValueError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps({"documents_deleted": len(docs), "pages_deleted": pages}))
    else:
        print(f"deleted {len(docs)} document(s), {pages} page(s)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from indexer.report import print_status, store_status

    try:
        store = open_store(args.store)
        try:
            if not store.exists():
                return _fail(_missing(store), 1)
            status = store_status(store)
        finally:
            store.close()
    except (StoreUnavailable, ValueError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(status))
    else:
        print_status(status)
    return 0
