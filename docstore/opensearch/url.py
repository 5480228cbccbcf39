"""Store URLs for OpenSearch: ``opensearch://[user:password@]host:port[,host:port...][?options]``.

``opensearchs://`` (or ``https://``) uses TLS; ``http://`` works as ``opensearch://``. Several
hosts name the nodes of one cluster: requests go round-robin over them, and a request a node
cannot answer (down, unreachable, 502/503/504) is retried on the next one.
Options: ``prefix`` (index-name prefix, default ``folio``), ``verify`` (``false`` skips TLS
certificate checks, for self-signed dev clusters), ``refresh`` (``true``: every write is visible
to the next search, the default; ``wait_for``; ``false`` for bulk loads followed by an explicit
``refresh()``), ``shards`` (primary shards of the pages and images indices; default 1) and
``replicas`` (copies of every shard on other nodes; default one copy when the cluster has a
second node, none on a single node). Both apply when the store creates its indices."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, Field

_SCHEMES = {"opensearch": "http", "opensearchs": "https", "http": "http", "https": "https"}
_REFRESH: dict[str, bool | str] = {"true": True, "false": False, "wait_for": "wait_for"}
_BAD_PREFIX_CHARS = set(' "*\\<|,>/?#:')
_OPTIONS = ("prefix", "verify", "refresh", "shards", "replicas")


class OpenSearchTarget(BaseModel):
    scheme: str
    hosts: list[tuple[str, int]] = Field(min_length=1)
    username: str | None = None
    password: str | None = None
    verify_certs: bool = True
    prefix: str = "folio"
    refresh: bool | str = True
    shards: int | None = None  # None: one shard
    replicas: int | None = None  # None: one copy when the cluster has a second node

    @property
    def address(self) -> str:
        """For messages: never includes the credentials."""
        return f"{self.scheme}://" + ",".join(_host_port(host, port) for host, port in self.hosts)

    def client_options(self) -> dict[str, Any]:
        cluster = len(self.hosts) > 1
        options: dict[str, Any] = {
            "hosts": [{"host": host, "port": port, "scheme": self.scheme} for host, port in self.hosts],
            "use_ssl": self.scheme == "https",
            "verify_certs": self.verify_certs,
            "ssl_show_warn": False,
            "timeout": 30,
            # One host: one retry, so a dead node surfaces quickly as StoreUnavailable, not a hang.
            # Several: a request may try every host (round-robin; a failed host rests a while),
            # and a node that hangs counts as down. Writes name their documents by id, so a
            # write sent again replaces rather than duplicates.
            "max_retries": len(self.hosts) if cluster else 1,
            "retry_on_timeout": cluster,
        }
        if self.username:
            options["http_auth"] = (self.username, self.password or "")
        return options


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_hosts(netloc: str, url: str) -> tuple[list[tuple[str, int]], str | None, str | None]:
    """``[user:password@]host[:port][,host[:port]...]`` → hosts (port 9200 when none), user, password."""
    userinfo, _, hostlist = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    hosts: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        parts = urlsplit(f"//{item.strip()}")
        if not parts.hostname:
            raise ValueError(f"not an OpenSearch URL: {url!r} (use opensearch://host:9200)")
        try:
            port = parts.port or 9200
        except ValueError as exc:
            raise ValueError(f"bad port in OpenSearch URL host {parts.hostname}:…") from exc
        hosts.append((parts.hostname, port))
    if len(set(hosts)) != len(hosts):
        raise ValueError("an OpenSearch URL names a host twice")
    return hosts, unquote(user) if user else None, unquote(password) if password else None


def _count(query: dict[str, str], name: str, least: int) -> int | None:
    if name not in query:
        return None
    value = query[name]
    if not value.isdigit() or int(value) < least:
        raise ValueError(f"{name} must be a whole number >= {least}, not {value!r}")
    return int(value)


def parse_opensearch_url(url: str) -> OpenSearchTarget:
    """Parse without any I/O; a malformed URL raises ValueError saying what is wrong."""
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an OpenSearch URL: {url!r} (use opensearch://host:9200)")
    hosts, username, password = _parse_hosts(parts.netloc, url)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - set(_OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} in OpenSearch URL ({', '.join(_OPTIONS)})")
    prefix = query.get("prefix", "folio")
    if not prefix or prefix != prefix.lower() or prefix[0] in "-_+" or _BAD_PREFIX_CHARS & set(prefix):
        raise ValueError(f"invalid index prefix {prefix!r}: use lower-case letters, digits, - and _")
    refresh = _REFRESH.get(query.get("refresh", "true"))
    if refresh is None:
        raise ValueError("refresh must be true, false or wait_for")
    verify = query.get("verify", "true")
    if verify not in ("true", "false"):
        raise ValueError("verify must be true or false")
    return OpenSearchTarget(
        scheme=scheme,
        hosts=hosts,
        username=username,
        password=password,
        verify_certs=verify == "true",
        prefix=prefix,
        refresh=refresh,
        shards=_count(query, "shards", 1),
        replicas=_count(query, "replicas", 0),
    )
