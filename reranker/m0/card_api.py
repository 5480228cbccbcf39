"""The model card's `compute_score` call shape on top of Folio's inputs: `[query, document]` pairs
with one kind ("text" or "image") for every query and one for every document, turned into
TextInput / ImageInput pairs; the scores turned back into the card's return value. Images are read
later, by the preparer's `read_image`, like every other image input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from reranker.errors import CandidateError
from reranker.types import Candidate, ImageInput, Query, RerankScores, TextInput

KINDS = ("text", "image")
MIN_MAX_LENGTH = 64  # the bound M0Options puts on a configured max_length
_IMAGE_TYPES = (str, Path, Image.Image, bytes, bytearray, memoryview, ImageInput)


def given_pairs(pairs: Any) -> list[tuple[Any, Any]]:
    """The pairs as a list; one bare `[query, document]` counts as a list of one (as in the card)."""
    if not isinstance(pairs, list | tuple):
        raise TypeError(f"pairs must be a list of [query, document] pairs, not {type(pairs).__name__}")
    if len(pairs) == 2 and not isinstance(pairs[0], list | tuple):
        pairs = [pairs]
    out: list[tuple[Any, Any]] = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise TypeError(f"pair {i} is not a [query, document] pair: {_show(pair)}")
        out.append((pair[0], pair[1]))
    return out


def to_inputs(
    pairs: Sequence[tuple[Any, Any]], query_type: str, doc_type: str
) -> list[tuple[Query, Candidate]]:
    """Folio inputs for the pairs. Texts stay plain strings and an image given again as the same
    object or value gets the same ImageInput, so the pipeline prepares a shared query once."""
    for name, kind in (("query_type", query_type), ("doc_type", doc_type)):
        if kind not in KINDS:
            raise ValueError(f"{name} must be 'text' or 'image', not {kind!r}")
    images: dict[Any, ImageInput] = {}

    def convert(i: int, value: Any, kind: str, what: str) -> Query:
        if kind == "text":
            if isinstance(value, TextInput):
                return value.text
            if isinstance(value, str):
                return value
            param = "query_type" if what == "query" else "doc_type"
            raise CandidateError(
                f"pair {i}: the {what} is {_show(value)}, not text (pass {param}='image' for an image)"
            )
        if not isinstance(value, _IMAGE_TYPES):
            raise CandidateError(
                f"pair {i}: the {what} image is a {type(value).__name__} "
                "(use a path, an http(s) URL, bytes or a PIL image)"
            )
        if isinstance(value, ImageInput):
            return value
        key = (type(value), value) if isinstance(value, str | Path | bytes) else ("id", id(value))
        found = images.get(key)
        if found is None:
            found = images[key] = ImageInput(value)
        return found

    return [
        (convert(i, q, query_type, "query"), convert(i, d, doc_type, "document"))
        for i, (q, d) in enumerate(pairs)
    ]


def checked_max_length(max_length: int | None) -> int | None:
    if max_length is not None and (not isinstance(max_length, int) or max_length < MIN_MAX_LENGTH):
        raise ValueError(f"max_length must be an integer of at least {MIN_MAX_LENGTH}, not {max_length!r}")
    return max_length


def card_result(scored: RerankScores, pairs: Sequence[tuple[Any, Any]]) -> float | list[float]:
    """The card's return value: the scores in input order, a bare float when there is exactly one.
    A pair that failed raises its error, naming the pair (the card has no per-pair error)."""
    failed = scored.errors
    if failed:
        i, error = failed[0]
        query, doc = pairs[i]
        more = f" ({len(failed) - 1} more pair(s) failed too)" if len(failed) > 1 else ""
        # The same class (ImageTooLarge stays ImageTooLarge), with the pair named in the message.
        raise type(error)(
            f"pair {i} ({_show(query)}, {_show(doc)}) cannot be scored: {error}{more}"
        ) from error
    scores = [s for s in scored.scores if not isinstance(s, CandidateError)]
    return scores[0] if len(scores) == 1 else scores


def _show(value: Any) -> str:
    """A short, readable stand-in for an input in an error message."""
    if isinstance(value, ImageInput | TextInput):
        return _show(value.image if isinstance(value, ImageInput) else value.text)
    if isinstance(value, Image.Image):
        return f"<PIL image {value.width}x{value.height}>"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    text = repr(str(value) if isinstance(value, Path) else value)
    return text if len(text) <= 60 else text[:57] + "..."
