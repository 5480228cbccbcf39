"""`make_backend(spec)`: one string picks the reranker.

  none                      no reranking (returns None; callers keep the first-stage order)
  local:/path/or/model-id   the m0 model in this process (needs the `rerank` extra: torch)
  jina[:model]              Jina's hosted API (JINA_API_KEY; model defaults to jina-reranker-m0)
  remote:http://host:port   any server speaking the Jina rerank contract (e.g. `folio rerank-server`)
  remote:URL1,URL2,...      a pool of such servers: candidates routed by page affinity, with failover
"""

from __future__ import annotations

from typing import Any

from reranker.types import Scorer

_LOCAL_MODEL_OPTS = (
    "device", "dtype", "attn", "max_length", "allow_urls", "allow_private_urls", "max_image_pixels",
    "max_image_bytes",
)  # fmt: skip
_HTTP_OPTS = ("timeout", "retries", "backoff")


def _pick(opts: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in opts.items() if k in names and v is not None}


def make_backend(spec: str, **opts: Any) -> Scorer | None:
    """The scorer a spec names (None for `none`); a `RerankEngine` serves it."""
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind in ("", "none", "off"):
        return None
    if kind == "local":
        if not arg:
            raise ValueError("local: needs a model folder or id, e.g. local:/models/jina-reranker-m0")
        from reranker.backends.local import load_local

        return load_local(arg, **_pick(opts, _LOCAL_MODEL_OPTS))
    if kind == "jina":
        from reranker.backends.jina import JinaBackend

        return JinaBackend(
            model=arg or opts.get("model"), api_key=opts.get("api_key"), **_pick(opts, _HTTP_OPTS)
        )
    if kind == "remote":
        from reranker.backends.remote import RemoteBackend

        urls = [u.strip() for u in arg.split(",") if u.strip()]
        if not urls:
            raise ValueError("remote: needs a URL, e.g. remote:http://127.0.0.1:8081")
        if len(urls) > 1:
            from reranker.backends.pool import RemotePool

            # no retries or backoff inside a pool: it fails over to the next server instead
            return RemotePool(urls, opts.get("api_key"), model=opts.get("model"), **_pick(opts, ("timeout",)))
        return RemoteBackend(urls[0], opts.get("api_key"), model=opts.get("model"), **_pick(opts, _HTTP_OPTS))
    raise ValueError(
        f"unknown reranker {spec!r}: use none, local:/path/or/model-id, jina[:model] or remote:URL[,URL...]"
    )
