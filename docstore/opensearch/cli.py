"""`folio opensearch install-reranker` / `uninstall-reranker`: Folio's m0 as a stage of OpenSearch's
own search pipelines (see docstore.opensearch.ml_reranker), so any OpenSearch client gets hits
reranked by Folio."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from docstore.protocol import StoreUnavailable
from docstore.store import DEFAULT_STORE_URL


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "opensearch", help="rerank OpenSearch's own searches with Folio (search pipelines)"
    )
    commands = parser.add_subparsers(dest="opensearch_command", metavar="COMMAND", required=True)
    install = commands.add_parser(
        "install-reranker",
        help="connect OpenSearch to a Folio rerank server and create the search pipeline (idempotent)",
        description="Set the ML Commons settings the connector needs, create the connector to "
        "`folio rerank-server` and a remote model on it, and a search pipeline that fuses hybrid "
        "queries by RRF and reranks hits by their page reference. Prints the ids as JSON.",
    )
    install.add_argument(
        "--reranker-url",
        required=True,
        help="the rerank server as OpenSearch's nodes reach it, e.g. http://reranker:8081",
    )
    install.add_argument(
        "--api-key",
        default=os.environ.get("FOLIO_RERANK_API_KEY"),
        help="the rerank server's key (default: $FOLIO_RERANK_API_KEY); kept encrypted by ML Commons",
    )
    install.add_argument(
        "--allow-private-endpoint",
        action="store_true",
        help="let ML Commons call a private or loopback address (it refuses them by default)",
    )
    install.add_argument(
        "--fail-when-down",
        action="store_true",
        help="searches through the pipeline fail while the reranker is down or failing "
        "(default: they keep the first-stage order)",
    )
    uninstall = commands.add_parser(
        "uninstall-reranker", help="remove the pipeline, model, connector and settings install-reranker made"
    )
    for p in (install, uninstall):
        p.add_argument(
            "--store",
            default=None,
            help=f"OpenSearch store URL (default $FOLIO_STORE or {DEFAULT_STORE_URL})",
        )
        p.add_argument("--pipeline", default="folio-m0", help="search pipeline name (default folio-m0)")
    install.set_defaults(func=run_install)
    uninstall.set_defaults(func=run_uninstall)


def _fail(command: str, message: str, code: int = 1) -> int:
    print(f"folio opensearch {command}: {message}", file=sys.stderr)
    return code


def _client(args: argparse.Namespace) -> tuple[Any, str, str]:
    """(opensearch-py client, address for messages, pages index); ValueError for a URL that is not
    an OpenSearch store."""
    from opensearchpy import OpenSearch

    from docstore.opensearch.url import parse_opensearch_url

    url = args.store or os.environ.get("FOLIO_STORE") or DEFAULT_STORE_URL
    target = parse_opensearch_url(url)
    return OpenSearch(**target.client_options()), target.address, f"{target.prefix}-pages"


def run_install(args: argparse.Namespace) -> int:
    from docstore.opensearch.ml_reranker import MlReranker, RerankerSetupError, RerankerSpec

    try:
        client, address, pages_index = _client(args)
    except ValueError as exc:
        return _fail("install-reranker", f"it needs an OpenSearch store: {exc}", 2)
    spec = RerankerSpec(
        reranker_url=args.reranker_url,
        pipeline=args.pipeline,
        api_key=args.api_key or None,
        allow_private_endpoint=args.allow_private_endpoint,
        fail_when_down=args.fail_when_down,
    )
    try:
        ml = MlReranker(client, address)
        result = ml.install(spec)
        missing = ml.pages_without_ref(pages_index)
    except ValueError as exc:
        return _fail("install-reranker", str(exc), 2)
    except StoreUnavailable as exc:
        return _fail("install-reranker", f"store unavailable: {exc}", 2)
    except RerankerSetupError as exc:
        return _fail("install-reranker", str(exc))
    finally:
        client.close()
    result["pages_index"] = pages_index
    result["pages_without_ref"] = missing
    print(json.dumps(result, indent=2))
    if missing:
        print(
            f"folio opensearch install-reranker: {missing} pages of {pages_index} have no page reference "
            "yet, so the pipeline cannot send them to the reranker: re-index them, or run the one-off "
            "update in docs/operations.md (Page references in an OpenSearch index from before them)",
            file=sys.stderr,
        )
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    from docstore.opensearch.ml_reranker import MlReranker, RerankerSetupError

    try:
        client, address, _pages = _client(args)
    except ValueError as exc:
        return _fail("uninstall-reranker", f"it needs an OpenSearch store: {exc}", 2)
    try:
        result = MlReranker(client, address).uninstall(args.pipeline)
    except ValueError as exc:
        return _fail("uninstall-reranker", str(exc), 2)
    except StoreUnavailable as exc:
        return _fail("uninstall-reranker", f"store unavailable: {exc}", 2)
    except RerankerSetupError as exc:
        return _fail("uninstall-reranker", str(exc))
    finally:
        client.close()
    print(json.dumps(result, indent=2))
    return 0
