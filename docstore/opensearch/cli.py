"""`folio opensearch install-reranker` / `uninstall-reranker`: Folio's m0 as a stage of OpenSearch's
own search pipelines (see docstore.opensearch.ml_reranker), so any OpenSearch client gets hits
reranked by Folio."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from docstore.protocol import StoreUnavailable
from docstore.store import DEFAULT_STORE_URL

if TYPE_CHECKING:
    from docstore.opensearch.ml_reranker import MlReranker
    from docstore.opensearch.store import OpenSearchStore


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


def _store(args: argparse.Namespace) -> OpenSearchStore:
    """The OpenSearch store the command works on (parsed only: nothing is read yet); ValueError for
    a URL that is not an OpenSearch store."""
    from docstore.opensearch.store import OpenSearchStore

    return OpenSearchStore(args.store or os.environ.get("FOLIO_STORE") or DEFAULT_STORE_URL)


def _run(command: str, args: argparse.Namespace, step: Callable[[MlReranker, OpenSearchStore], Any]) -> int:
    """`step` on the store's cluster, its result printed as JSON; a refused or failed step is a
    message and exit status 2 (bad input, an unreachable store) or 1 (OpenSearch refused a step)."""
    from docstore.opensearch.ml_reranker import MlReranker, RerankerSetupError

    try:
        store = _store(args)
    except ValueError as exc:
        return _fail(command, f"it needs an OpenSearch store: {exc}", 2)
    try:
        result = step(MlReranker(store.client, store.address), store)
    except ValueError as exc:
        return _fail(command, str(exc), 2)
    except StoreUnavailable as exc:
        return _fail(command, f"store unavailable: {exc}", 2)
    except RerankerSetupError as exc:
        return _fail(command, str(exc))
    finally:
        store.close()
    print(json.dumps(result, indent=2))
    return 0


def run_install(args: argparse.Namespace) -> int:
    from docstore.opensearch.ml_reranker import RerankerSpec

    spec = RerankerSpec(
        reranker_url=args.reranker_url,
        pipeline=args.pipeline,
        api_key=args.api_key or None,
        allow_private_endpoint=args.allow_private_endpoint,
        fail_when_down=args.fail_when_down,
    )

    def install(ml: MlReranker, store: OpenSearchStore) -> dict[str, Any]:
        result = ml.install(spec)
        missing = ml.pages_without_ref(store.pages_index)
        if missing:
            print(
                f"folio opensearch install-reranker: {missing} pages of {store.pages_index} have no page "
                "reference yet, so the pipeline cannot send them to the reranker: re-index them, or run "
                "the one-off update in docs/operations.md (Page references in an OpenSearch index from "
                "before them)",
                file=sys.stderr,
            )
        return {**result, "pages_index": store.pages_index, "pages_without_ref": missing}

    return _run("install-reranker", args, install)


def run_uninstall(args: argparse.Namespace) -> int:
    return _run("uninstall-reranker", args, lambda ml, _store: ml.uninstall(args.pipeline))
