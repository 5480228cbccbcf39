"""Store URLs for OpenSearch: ``opensearch://[user:password@]host:port[?options]``.

``opensearchs://`` (or ``https://``) uses TLS; ``http://`` works as ``opensearch://``.
Options: ``prefix`` (index-name prefix, default ``folio``), ``verify`` (``false`` skips TLS
certificate checks, for self-signed dev clusters), ``refresh`` (``true``: every write is visible
to the next search, the default; ``wait_for``; ``false`` for bulk loads followed by an explicit
``refresh()``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel

_SCHEMES = {"opensearch": "http", "opensearchs": "https", "http": "http", "https": "https"}
_REFRESH: dict[str, bool | str] = {"true": True, "false": False, "wait_for": "wait_for"}
_BAD_PREFIX_CHARS = set(' "*\\<|,>/?#:')


class OpenSearchTarget(BaseModel):
    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    verify_certs: bool = True
    prefix: str = "folio"
    refresh: bool | str = True

    @property
    def address(self) -> str:
        """For messages: never includes the credentials."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "hosts": [{"host": self.host, "port": self.port, "scheme": self.scheme}],
            "use_ssl": self.scheme == "https",
            "verify_certs": self.verify_certs,
            "ssl_show_warn": False,
            "timeout": 30,
            # One retry: a dead node should surface quickly as StoreUnavailable, not hang.
            "max_retries": 1,
            "retry_on_timeout": False,
        }
        if self.username:
            options["http_auth"] = (self.username, self.password or "")
        return options


def parse_opensearch_url(url: str) -> OpenSearchTarget:
    """Parse without any I/O; a malformed URL raises ValueError saying what is wrong."""
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(f"not an OpenSearch URL: {url!r} (use opensearch://host:9200)")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"prefix", "verify", "refresh"}
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} in OpenSearch URL (prefix, verify, refresh)")
    prefix = query.get("prefix", "folio")
    if not prefix or prefix != prefix.lower() or prefix[0] in "-_+" or _BAD_PREFIX_CHARS & set(prefix):
        raise ValueError(f"invalid index prefix {prefix!r}: use lower-case letters, digits, - and _")
    refresh = _REFRESH.get(query.get("refresh", "true"))
    if refresh is None:
        raise ValueError("refresh must be true, false or wait_for")
    verify = query.get("verify", "true")
    if verify not in ("true", "false"):
        raise ValueError("verify must be true or false")
    try:
        port = parts.port or 9200
    except ValueError as exc:
        raise ValueError(f"bad port in OpenSearch URL {parts.scheme}://{parts.hostname}:…") from exc
    return OpenSearchTarget(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        verify_certs=verify == "true",
        prefix=prefix,
        refresh=refresh,
    )
