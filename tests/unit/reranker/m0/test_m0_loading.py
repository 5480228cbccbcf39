"""Checkpoint loading: both key layouts give identical scores, sharded checkpoints load, and a
missing or unexpected key, a missing model, or a missing torch give errors that say what to do;
loading prints no warning about the image processor."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from reranker.errors import ModelLoadError
from reranker.types import ImageInput
from tests.fixtures.tiny_m0 import build_tiny_m0
from tests.unit.reranker.m0.conftest import png_bytes

PAIRS = [("slm markdown", "markdown converter"), ("slm markdown", ImageInput(png_bytes(100, 80, seed=5)))]


def _load(folder: Path):
    from reranker.m0.reranker import M0Reranker

    return M0Reranker.from_pretrained(str(folder), device="cpu", max_length=2048)


def test_old_and_new_layouts_score_identically(tmp_path: Path, m0) -> None:
    new = build_tiny_m0(tmp_path / "new", layout="new")
    assert any(k.startswith("model.language_model.") for k in load_file(str(new / "model.safetensors")))
    model = _load(new)
    try:
        assert model.score_pairs(PAIRS).scores == m0.score_pairs(PAIRS).scores
    finally:
        model.close()


def test_sharded_checkpoint_loads(tmp_path: Path, tiny_m0_dir: Path, m0) -> None:
    folder = tmp_path / "sharded"
    shutil.copytree(tiny_m0_dir, folder)
    weights = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    keys = sorted(weights)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for name, part in shards.items():
        save_file({k: weights[k] for k in part}, str(folder / name))
    index = {"weight_map": {k: name for name, part in shards.items() for k in part}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    model = _load(folder)
    try:
        assert model.score_pairs(PAIRS).scores == m0.score_pairs(PAIRS).scores
    finally:
        model.close()


def _edited_copy(src: Path, dst: Path, drop: str | None = None, add: str | None = None) -> Path:
    shutil.copytree(src, dst)
    weights = load_file(str(dst / "model.safetensors"))
    if drop:
        del weights[drop]
    if add:
        weights[add] = weights["score.0.bias"].clone()
    save_file(weights, str(dst / "model.safetensors"))
    return dst


def test_missing_key_is_named(tmp_path: Path, tiny_m0_dir: Path) -> None:
    folder = _edited_copy(tiny_m0_dir, tmp_path / "m", drop="score.2.weight")
    with pytest.raises(ModelLoadError, match=r"missing keys: score\.2\.weight"):
        _load(folder)


def test_missing_language_model_key_is_named_in_current_names(tmp_path: Path, tiny_m0_dir: Path) -> None:
    folder = _edited_copy(tiny_m0_dir, tmp_path / "m", drop="model.norm.weight")
    with pytest.raises(ModelLoadError, match=r"model\.language_model\.norm\.weight"):
        _load(folder)


def test_unexpected_key_is_named(tmp_path: Path, tiny_m0_dir: Path) -> None:
    folder = _edited_copy(tiny_m0_dir, tmp_path / "u", add="score.4.bias")
    with pytest.raises(ModelLoadError, match=r"unexpected keys: score\.4\.bias"):
        _load(folder)


def test_missing_model_says_how_to_point_at_a_local_copy(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="--model DIR"):
        _load(tmp_path / "nowhere")


def test_package_imports_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import reranker; from reranker import CandidateError, TextInput\n"
        "try:\n    reranker.M0Reranker\nexcept ImportError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "folio-search[rerank]" in out.stdout


def test_loading_and_scoring_an_image_prints_no_image_processor_warning(tiny_m0_dir: Path) -> None:
    """Folio names the image processor it uses, so transformers has nothing to warn about. The
    process then asks for the bare `Qwen2VLImageProcessor` name: without torchvision that warning
    shows up after the marker, so the check above it would have seen one."""
    code = (
        "import sys\n"
        "from reranker.m0.reranker import M0Reranker\n"
        "from tests.unit.reranker.m0.conftest import png_bytes\n"
        "from reranker.types import ImageInput\n"
        f"model = M0Reranker.from_pretrained({str(tiny_m0_dir)!r}, device='cpu')\n"
        "print(model.rerank('q', [ImageInput(png_bytes(100, 80, seed=1)), 'text']).results[0].relevance_score)\n"
        "model.close()\n"
        "print('MARKER', file=sys.stderr, flush=True)\n"
        "import transformers; transformers.Qwen2VLImageProcessor\n"
    )
    repo = Path(__file__).resolve().parents[4]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=repo)
    assert out.returncode == 0, out.stderr
    assert 0.0 < float(out.stdout.split()[-1]) < 1.0
    before, _, after = out.stderr.partition("MARKER")
    assert "ImageProcessor" not in before and "torchvision" not in before, before
    if importlib.util.find_spec("torchvision") is None:
        assert "falling back to `Qwen2VLImageProcessorPil`" in after, after
