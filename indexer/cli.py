"""`folio index`, `folio delete`, `folio status`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from docstore.embedders import DEFAULT_EMBEDDER
from docstore.protocol import Store, StoreUnavailable
from docstore.store import DEFAULT_STORE_URL, open_store


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("index", help="index PDF and text files (local or in S3) into the store")
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="files, folders or s3://bucket/prefix (PDF, .txt, .md)"
    )
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
        "--prune",
        action="store_true",
        help="remove the documents indexed from under PATHs whose file or object is gone (default: report them)",
    )
    p.add_argument(
        "--s3-endpoint",
        default=None,
        metavar="URL",
        help="S3-compatible endpoint for s3:// paths (default: $AWS_ENDPOINT_URL, else AWS)",
    )
    p.add_argument(
        "--s3-max-mb",
        type=int,
        default=1024,
        help="larger S3 objects are skipped, not downloaded (default 1024)",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=os.environ.get("FOLIO_RAY_ADDRESS") or None,
        help="do the page work on the Ray cluster at ADDRESS (host:port, or auto: the cluster this "
        "machine belongs to); default $FOLIO_RAY_ADDRESS, else local worker processes",
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
    from indexer.s3_sources import is_s3_uri
    from indexer.sources import NoSuchPath, SourceUnavailable
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
            prune=args.prune,
            s3_endpoint=args.s3_endpoint,
            max_download_mb=args.s3_max_mb,
            ray=args.ray,
            bulk_load=args.bulk_load,
            **({"workers": args.workers} if args.workers is not None else {}),
        )
    except ValidationError as exc:
        return _fail(f"bad option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
    missing = [p for p in args.paths if not is_s3_uri(p) and not Path(p).expanduser().exists()]
    if missing:
        return _fail(f"no such file or folder: {', '.join(missing)}")
    try:
        store = open_store(args.store)
        if not store.ping():
            return _fail(f"store unreachable: {store.url}")
        try:
            # stdout is for the summary: what libraries print during the run goes to stderr (Ray's
            # driver prints the cluster's error events, a lost node among them, to stdout).
            with contextlib.redirect_stdout(sys.stderr):
                summary = Indexer(store, options).run(args.paths)
        finally:
            store.close()
    except (
        StoreUnavailable, EmbedderMismatch, EmbedderUnavailable, NoSuchPath, SourceUnavailable, ValueError,
    ) as exc:  # fmt: skip
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
