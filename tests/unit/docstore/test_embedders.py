"""Embedders: the offline default, the hashing test embedder, name resolution and store binding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docstore.embedders import DEFAULT_EMBEDDER, Embedder, EmbedderUnavailable, get_embedder
from docstore.embedders.binding import bind_embedder, store_embedder
from docstore.sqlite.store import SqliteStore


def test_default_embedder_runs_offline_and_is_multilingual(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("FOLIO_EMBEDDER", raising=False)
    embedder = get_embedder()
    assert isinstance(embedder, Embedder) and embedder.name == DEFAULT_EMBEDDER
    texts = ["The cat sleeps on the sofa.", "猫がソファで寝ている。", "Stock markets fell sharply.", ""]
    vectors = embedder.encode(texts)
    assert vectors.shape == (4, embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()  # empty text: zero vector, never NaN
    sims = vectors[:3] @ vectors[:3].T
    assert sims[0, 1] > sims[0, 2] + 0.3  # the Japanese sentence is closer than the unrelated English one


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    embedder = get_embedder("hash:32")
    a = embedder.encode(["alpha beta gamma", "alpha beta delta", "東京大学"])
    b = get_embedder("hash:32").encode(["alpha beta gamma", "alpha beta delta", "東京大学"])
    assert a.shape == (3, 32) and np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert a[0] @ a[1] > 0.3
    assert embedder.encode([]).shape == (0, 32)


def test_names_resolve_from_argument_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLIO_EMBEDDER", "hash:16")
    assert get_embedder().name == "hash:16"
    assert get_embedder("hash:24").dim == 24
    with pytest.raises(ValueError, match="unknown embedder"):
        get_embedder("word2vec")
    with pytest.raises(ValueError, match="hash"):
        get_embedder("hash:x")


def test_missing_optional_packages_give_a_clear_error() -> None:
    try:
        import sentence_transformers  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(EmbedderUnavailable, match="pip install sentence-transformers"):
            get_embedder("sentence-transformers:some/model")
    else:
        pytest.skip("sentence-transformers is installed")


def test_store_records_the_embedder(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/e.db")
    assert store_embedder(store) is None
    bound = bind_embedder(store, "hash:48")
    assert store.get_meta("embedder") == "hash:48" and store.get_meta("dim") == "48"
    assert bind_embedder(store).name == "hash:48"  # later runs reuse it
    found = store_embedder(store)
    assert found is not None and found.name == bound.name
    with pytest.raises(ValueError, match="indexed with embedder"):
        bind_embedder(store, "hash:64")
    store.close()
