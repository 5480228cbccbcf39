"""What every embedder module shares: the `Embedder` protocol, the error for a missing optional
package, and row normalisation."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@runtime_checkable
class Embedder(Protocol):
    name: str  # resolvable by get_embedder(name): recorded in the store
    dim: int
    # Where `folio index` embeds pages by default: True for CPU models whose cost per page is a
    # forward pass several times the render's and that gain little from big batches (they run in
    # the index workers, on every core); False for embedders that cost little per page and less in
    # batches, or that are too big to load once per worker (batched in the indexing process).
    runs_in_workers: bool

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """(len(texts), dim) float32, each row L2-normalised (zero rows for empty texts)."""
        ...


class EmbedderUnavailable(RuntimeError):
    """The named embedder needs a package that is not installed."""


def optional_import(module: str, needed_by: str, install: str) -> ModuleType:
    """`module`, or EmbedderUnavailable saying who needs it and what to install (one message shape
    for every optional package of the embedders)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EmbedderUnavailable(
            f"{needed_by}: the Python module {module!r} is missing; install it with pip install '{install}'"
        ) from exc


def l2_normalise(matrix: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    out = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True).astype(np.float32)
    norms[norms == 0] = 1.0
    result: npt.NDArray[np.float32] = out / norms
    return result


def encode_queries(embedder: Embedder, texts: list[str]) -> npt.NDArray[np.float32]:
    """Query vectors: the embedder's own query encoding where it has one (models trained with
    asymmetric query/passage inputs, such as e5), else the same encoding as pages."""
    encode = getattr(embedder, "encode_queries", None)
    if callable(encode):
        result: npt.NDArray[np.float32] = encode(texts)
        return result
    return embedder.encode(texts)
