"""The local m0 model as a backend, loaded on demand: choosing a backend never imports torch unless
the local model is asked for."""

from __future__ import annotations

from typing import Any

from reranker.types import Scorer


def load_local(path_or_id: str, **opts: Any) -> Scorer:
    """An `M0Reranker` for a checkpoint folder or model id; `opts` as `M0Reranker.from_pretrained`."""
    try:
        from reranker.m0.reranker import M0Reranker  # says which extra to install when torch is missing
    except ImportError as exc:
        raise ValueError(str(exc)) from exc
    return M0Reranker.from_pretrained(path_or_id, **opts)
