"""Folio's reranker: jina-reranker-m0 scoring of mixed text and image candidates (`m0/`), the engine
and server that serve it (`serving/`), and backends (local model, Jina's API, any Jina-compatible
server)."""

from typing import TYPE_CHECKING, Any

from reranker.errors import CandidateError
from reranker.types import ImageInput, RerankOutput, RerankResult, RerankScores, Scorer, TextInput

if TYPE_CHECKING:
    from reranker.m0.reranker import M0Reranker

__all__ = [
    "CandidateError",
    "ImageInput",
    "M0Reranker",
    "RerankOutput",
    "RerankResult",
    "RerankScores",
    "Scorer",
    "TextInput",
]


def __getattr__(name: str) -> Any:
    # The local model pulls in torch; import it only when asked for.
    if name == "M0Reranker":
        from reranker.m0.reranker import M0Reranker

        return M0Reranker
    raise AttributeError(f"module 'reranker' has no attribute {name!r}")
