"""`folio serve` (the API and portal under uvicorn) and `folio keys` (API key management)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from search_api.keys import KeyStore, parse_groups
from search_api.settings import Settings


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="start the search API and portal")
    serve.add_argument("--store", help="store URL (default $FOLIO_STORE or sqlite:///.folio/folio.db)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--reranker",
        help="none | local:/path | jina[:model] | remote:http://host:port[,http://host2:port,...] (a pool)",
    )
    serve.add_argument("--embedder", help="query embedder when the store records none")
    serve.add_argument("--anonymous", action="store_true", default=None, help="allow requests without a key")
    serve.add_argument(
        "--keys-file",
        help="API keys file (default: keys.db beside a SQLite store; an OpenSearch store keeps keys itself)",
    )
    oidc = serve.add_argument_group("OpenID Connect (bearer access tokens from an identity provider)")
    oidc.add_argument("--oidc-issuer", help="issuer URL (its /.well-known/openid-configuration is read)")
    oidc.add_argument("--oidc-client-id", help="Folio's client id at the provider")
    oidc.add_argument("--oidc-client-secret", help="that client's secret (prefer $FOLIO_OIDC_CLIENT_SECRET)")
    oidc.add_argument("--oidc-audience", help="the aud a token must carry (default: the client id)")
    oidc.add_argument("--oidc-groups-claim", help="the claim listing the person's groups (default: groups)")
    oidc.add_argument("--oidc-admin-group", help="members of this group are admins")
    oidc.add_argument("--oidc-provider-name", help='the portal\'s "Sign in with <name>" button (e.g. Keycloak)')
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)

    keys = subparsers.add_parser("keys", help="manage API keys")
    keys.add_argument(
        "--store", help="store URL (an OpenSearch store keeps the keys; else beside a SQLite store)"
    )
    keys.add_argument("--keys-file", help="API keys file (instead of the store's keys)")
    # The same two options after the action too (`folio keys list --store URL`); SUPPRESS keeps an
    # action from resetting a value given before it.
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--store", default=argparse.SUPPRESS, help="store URL (where the keys are)")
    where.add_argument(
        "--keys-file", default=argparse.SUPPRESS, help="API keys file (instead of the store's keys)"
    )
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create a key (printed once)", parents=[where])
    create.add_argument("--groups", default="", help="comma-separated groups the key may see")
    create.add_argument("--admin", action="store_true", help="the key sees and manages everything")
    create.add_argument("--name", default="", help="a label for the key")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=_keys_create)
    listing = sub.add_parser("list", help="list keys (never the keys themselves)", parents=[where])
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_keys_list)
    revoke = sub.add_parser("revoke", help="revoke a key by its id", parents=[where])
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_keys_revoke)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Environment (FOLIO_*) first, flags over it."""
    overrides: dict[str, Any] = {}
    for field in ("store", "reranker", "embedder", "anonymous", "keys_file", "oidc_issuer", "oidc_client_id",
                  "oidc_client_secret", "oidc_audience", "oidc_groups_claim", "oidc_admin_group", "oidc_provider_name"):  # fmt: skip
        value = getattr(args, field, None)
        if value is not None:
            overrides[field] = value
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from reranker.errors import ModelLoadError, RerankError
    from search_api.app import create_app

    settings = settings_from_args(args)
    try:
        app = create_app(settings)
    except (ValueError, OSError, ImportError, ModelLoadError, RerankError) as exc:  # store, model, backend
        print(f"folio serve: {exc}", file=sys.stderr)
        return 2
    print(
        f"folio serve: http://{args.host}:{args.port} (store {settings.store}, reranker {settings.reranker}, "
        f"anonymous {'on' if settings.anonymous else 'off'}, keys in {app.state.keys.where}"
        f"{f', tokens from {settings.oidc_issuer}' if settings.oidc_issuer else ''})",
        file=sys.stderr,
    )
    if args.workers > 1:
        # Each worker process builds its own app from the environment, so pass the flags on there.
        import os

        for field, value in settings.model_dump(exclude_unset=True).items():
            os.environ[f"FOLIO_{field.upper()}"] = str(value)
        uvicorn.run(
            "search_api.app:create_app", factory=True, host=args.host, port=args.port,
            workers=args.workers, log_level=args.log_level, access_log=False,
        )  # fmt: skip
        return 0
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def _reports_store_errors(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A store that cannot be reached, or a bad store URL, is a one-line message and exit status 1."""

    @functools.wraps(action)
    def run(args: argparse.Namespace) -> int:
        from docstore.protocol import StoreUnavailable

        try:
            return action(args)
        except (StoreUnavailable, ValueError) as exc:
            print(f"folio keys: {exc}", file=sys.stderr)
            return 1

    return run


@contextmanager
def _keystore(args: argparse.Namespace) -> Iterator[KeyStore]:
    from docstore.store import open_store

    settings = settings_from_args(args)
    store = open_store(settings.store)  # opening connects to nothing; only the keys are used
    keys = KeyStore(store.shared_state(settings.keys_file).keys, settings.key_cache_s)
    try:
        yield keys
    finally:
        keys.close()
        store.close()


@_reports_store_errors
def _keys_create(args: argparse.Namespace) -> int:
    groups = parse_groups(args.groups)
    if not groups and not args.admin:
        print("folio keys create: give --groups a,b (or --admin)", file=sys.stderr)
        return 2
    with _keystore(args) as keys:
        key, record = keys.create(groups, admin=args.admin, name=args.name)
    if args.json:
        print(json.dumps({"key": key, **record.model_dump()}))
    else:
        print(key)
        print(
            f"key id {record.key_id}, groups {','.join(groups) or '-'}{', admin' if args.admin else ''} "
            f"(stored in {keys.where}; the key is shown only this once)",
            file=sys.stderr,
        )
    return 0


@_reports_store_errors
def _keys_list(args: argparse.Namespace) -> int:
    with _keystore(args) as keys:
        records = keys.list(include_revoked=args.all)
    if args.json:
        print(json.dumps([r.model_dump() for r in records]))
        return 0
    print(f"{'ID':<14}{'NAME':<20}{'GROUPS':<30}{'ADMIN':<7}{'CREATED':<22}REVOKED")
    for r in records:
        created = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{r.key_id:<14}{r.name[:19]:<20}{','.join(r.groups)[:29]:<30}{'yes' if r.admin else '':<7}"
              f"{created:<22}{'yes' if r.revoked else ''}")  # fmt: skip
    return 0


@_reports_store_errors
def _keys_revoke(args: argparse.Namespace) -> int:
    with _keystore(args) as keys:
        ok = keys.revoke(args.key_id)
    if not ok:
        print(f"folio keys revoke: no active key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0
