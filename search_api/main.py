"""The `folio` command. Each package registers its own subcommands (see `<package>/cli.py`);
they are imported lazily so `folio --help` stays fast and torch loads only when needed."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys

# package module -> subcommands it registers
_COMMAND_MODULES = {
    "indexer.cli": ("index", "delete", "status"),
    "docstore.cli": ("search",),
    "docstore.opensearch.cli": ("opensearch",),
    "reranker.cli": ("rerank", "rerank-server"),
    "search_api.cli": ("serve", "keys"),
}


def version() -> str:
    try:
        return importlib.metadata.version("folio-search")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="folio", description="Folio visual-document search.")
    parser.add_argument("--version", action="version", version=f"folio {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, commands in _COMMAND_MODULES.items():
        if load is None or load in commands:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:  # a package still missing must not break the others
                for cmd in commands:
                    p = sub.add_parser(cmd, help=f"(unavailable: {exc})")
                    p.set_defaults(func=lambda _a, e=exc: _unavailable(e))
                continue
            module.register(sub)
        else:
            for cmd in commands:
                sub.add_parser(cmd, help=_HELP.get(cmd, ""), add_help=False)
    return parser


_HELP = {
    "index": "index PDF and text files into the store",
    "delete": "delete indexed documents",
    "status": "show what the store holds",
    "search": "first-stage search (bm25, knn, hybrid)",
    "opensearch": "rerank OpenSearch's own searches with Folio (search pipelines)",
    "rerank": "score candidates with jina-reranker-m0",
    "rerank-server": "serve a local m0 model over the Jina, Cohere and vLLM rerank APIs",
    "serve": "start the search API and portal",
    "keys": "manage API keys",
}


def _unavailable(exc: Exception) -> int:
    print(f"folio: this command is unavailable: {exc}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:  # without importing every command's package
        print(f"folio {version()}")
        return 0
    command = next((a for a in argv if not a.startswith("-")), None)
    known = {c for cmds in _COMMAND_MODULES.values() for c in cmds}
    parser = build_parser(command if command in known else "")
    if command not in known:
        parser = build_parser(None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("folio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`folio search … | head`): stop quietly. Output still buffered for
        # the closed pipe would fail again at exit, so stdout now points at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
