"""The reranker's errors (no torch here, so the package imports without it).

Per candidate: `CandidateError` (that pair gets no score; the others of the call still do).
Per call: `RerankError` and its kinds, raised by the engine and the backends; `reason` is a stable
label for metrics and for the search API's `rerank_reason`."""

from __future__ import annotations


class CandidateError(Exception):
    """One candidate (or its query) could not be scored: corrupt or oversized image, empty text,
    blocked or unreachable URL. The other candidates of the call are still scored."""


class ImageTooLarge(CandidateError):
    """An image over a byte or pixel limit (servers answer 413 rather than 400)."""


class ModelLoadError(RuntimeError):
    """The checkpoint is missing, incomplete or does not match the m0 architecture."""


class RerankError(RuntimeError):
    """A rerank call failed as a whole."""

    reason = "error"


class Overloaded(RerankError):
    """Too many calls are waiting; refused at once so the caller can back off or degrade."""

    reason = "busy"


class DeadlineExceeded(RerankError):
    """The call did not finish within its deadline."""

    reason = "budget"


class BackendFailed(RerankError):
    """The model or the rerank service failed (unreachable, rejected the call, crashed, closed)."""

    reason = "error"


class OutOfMemory(BackendFailed):
    """The device (or the host) ran out of memory on this batch."""

    reason = "memory"


def require_torch() -> None:
    """Fail with an actionable message when the optional model dependencies are not installed."""
    missing = []
    for module in ("torch", "transformers", "safetensors"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        # The same shape as the embedders' message for a missing optional package.
        raise ImportError(
            f"the local reranker: the Python module(s) {', '.join(map(repr, missing))} missing; "
            "install them with pip install 'folio-search[rerank]'"
        )
