"""m0's prompt format and token layout: document first, then query; images as one
`<|image_pad|>` per image, expanded to the image's merged-patch count; text truncated by
tokenising, cutting and decoding back; token 100 appended; batches padded on the left."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reranker.errors import CandidateError

DOC_PREFIX = "**Document**:\n"
QUERY_PREFIX = "\n**Query**:\n"
IMAGE_SLOT = "<|vision_start|><|image_pad|><|vision_end|>"
SCORE_TOKEN_ID = 100  # appended to every sequence; the head reads this token's final hidden state
MAX_QUERY_TOKENS = 512
# Strings the tokenizer would turn into vision tokens; user text containing them would desynchronise
# the image placeholders from the images.
RESERVED = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_pad|>")


def format_prompt(query_text: str | None, doc_text: str | None) -> str:
    """The m0 prompt; `None` stands for an image in that slot."""
    doc = IMAGE_SLOT if doc_text is None else doc_text
    query = IMAGE_SLOT if query_text is None else query_text
    return DOC_PREFIX + doc + QUERY_PREFIX + query


def max_doc_tokens(max_length: int, max_query_tokens: int = MAX_QUERY_TOKENS) -> int:
    return max(max_length - max_query_tokens, max_query_tokens)


def clean_text(text: str, what: str) -> str:
    if not text or not text.strip():
        raise CandidateError(f"{what} text is empty")
    for token in RESERVED:
        if token in text:
            raise CandidateError(f"{what} text contains the reserved vision token {token}")
    return text


def max_token_chars(tokenizer: Any) -> int:
    """The most characters one token of `tokenizer` can stand for: its longest vocabulary entry
    (a byte-level BPE entry is one symbol per byte, and a byte is never less than a character),
    so `n` tokens never cover more than `n * max_token_chars` characters. Qwen2's is 128."""
    return max(len(token) for token in tokenizer.get_vocab())


# Characters per token the first cut allows: prose runs at 3-5, CJK at about 1.5, so it almost
# always holds `limit` tokens and only a hostile or unusual text needs the wider cuts after it.
_FIRST_CUT_CHARS_PER_TOKEN = 8
# Tokens a cut must give beyond the limit: only the last few words before a cut can tokenize
# otherwise than in the whole text, and they must lie past the tokens kept.
_CUT_MARGIN_TOKENS = 64


def truncate_text(tokenizer: Any, text: str, limit: int, token_chars: int) -> str:
    """Cut `text` to `limit` tokens by tokenising, cutting and decoding back (as the reference does:
    a text that reaches the limit is replaced by its decoded tokens).

    Only a prefix of the text is tokenised, so memory and time follow `limit`, never the text's
    length: first `limit * 8` characters, then wider prefixes up to `(limit + margin) *
    token_chars` (`max_token_chars`), which always holds more than `limit` tokens. A prefix is
    used once it gives `limit + margin` tokens, so the tokens kept end well before the cut and
    are those the whole text gives.

    The ids are cut here, not by the tokenizer's `truncation`: a fast tokenizer keeps that setting
    on its shared backend, so a truncating call would race with the preparation threads' other
    encodings."""
    wanted = limit + _CUT_MARGIN_TOKENS
    widest = wanted * token_chars
    chars = min(limit * _FIRST_CUT_CHARS_PER_TOKEN, widest)
    while True:
        ids = tokenizer(text[:chars], add_special_tokens=False)["input_ids"]
        if chars >= len(text) or len(ids) >= wanted:
            break
        # Past the widest cut only for a text that normalises to fewer characters than it has
        # (composed marks): the cut then widens until the tokens are there.
        chars = min(chars * 4, widest) if chars < widest else chars * 2
    if len(ids) >= limit:
        return str(tokenizer.decode(ids[:limit]))
    return text


@dataclass
class EncodedPair:
    """One pair ready for the model: ids (image pads expanded, token 100 last) and its image keys in
    the order their placeholders appear (document image before query image)."""

    input_ids: list[int]
    image_keys: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_pair(
    tokenizer: Any,
    prompt: str,
    image_tokens: Sequence[int],
    image_keys: Sequence[str],
    image_token_id: int,
    max_length: int,
) -> EncodedPair:
    """Tokenise `prompt`, expand each image pad to that image's token count, truncate to
    `max_length - 1` and append the score token."""
    ids: list[int] = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    expanded = expand_images(ids, image_tokens, image_token_id)
    if len(expanded) > max_length - 1:
        cut = expanded[: max_length - 1]
        if sum(1 for t in cut if t == image_token_id) != sum(image_tokens):
            raise CandidateError(
                f"pair is {len(expanded)} tokens with its image(s), more than max_length={max_length} allows"
            )
        expanded = cut
    return EncodedPair(input_ids=[*expanded, SCORE_TOKEN_ID], image_keys=list(image_keys))


def expand_images(ids: Sequence[int], image_tokens: Sequence[int], image_token_id: int) -> list[int]:
    """Each image pad token repeated as many times as that image has merged patches."""
    expanded: list[int] = []
    images = iter(image_tokens)
    for token in ids:
        if token == image_token_id:
            expanded.extend([image_token_id] * next(images))
        else:
            expanded.append(token)
    return expanded


def left_pad(pairs: Sequence[EncodedPair], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """Pad on the left so every row ends with its score token: (input_ids, attention_mask)."""
    width = max(len(p) for p in pairs)
    ids = [[pad_id] * (width - len(p)) + p.input_ids for p in pairs]
    mask = [[0] * (width - len(p)) + [1] * len(p) for p in pairs]
    return ids, mask
