"""Errors of the local reranker (no torch here, so the package imports without it)."""

from __future__ import annotations


class CandidateError(Exception):
    """One candidate (or its query) could not be scored: corrupt or oversized image, empty text,
    blocked or unreachable URL. The other candidates of the call are still scored."""


class ImageTooLarge(CandidateError):
    """An image over a byte or pixel limit (servers answer 413 rather than 400)."""


class ModelLoadError(RuntimeError):
    """The checkpoint is missing, incomplete or does not match the m0 architecture."""


def require_torch() -> None:
    """Fail with an actionable message when the optional model dependencies are not installed."""
    missing = []
    for module in ("torch", "transformers", "safetensors"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(
            f"The local reranker needs {', '.join(missing)}: install the extra folio-search[rerank] "
            "(pip install 'folio-search[rerank]')."
        )
