"""Load an m0 checkpoint folder (config, single or sharded safetensors, tokenizer, preprocessor):
key-layout mapping, strict key checks, device/dtype/attention choice."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import torch
from transformers import Qwen2VLConfig
from transformers.initialization import no_init_weights

from reranker.errors import ModelLoadError
from reranker.m0.model import M0RankingModel

IGNORED_KEYS = ("lm_head.weight",)  # the ranking model has no LM head; a generic save may carry one


def load_config(folder: Path) -> Qwen2VLConfig:
    raw = json.loads((folder / "config.json").read_text())
    if raw.get("model_type") != "qwen2_vl":
        raise ModelLoadError(
            f"{folder}/config.json: model_type is {raw.get('model_type')!r}, expected 'qwen2_vl'"
        )
    for key in ("architectures", "auto_map", "transformers_version", "torch_dtype", "dtype", "model_type"):
        raw.pop(key, None)
    return Qwen2VLConfig(**raw)


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.exists():
        return load_file(str(single))
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        weights: dict[str, torch.Tensor] = {}
        for shard in shards:
            if not (folder / shard).exists():
                raise ModelLoadError(f"{folder}: shard {shard} named in the index is missing")
            weights.update(load_file(str(folder / shard)))
        return weights
    raise ModelLoadError(f"{folder} has no model.safetensors or model.safetensors.index.json")


def to_current_names(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the transformers 4.4x layout (`model.*` = language model, `visual.*`) to 5.x names
    (`model.language_model.*`, `model.visual.*`); the new layout passes through unchanged."""
    out: dict[str, torch.Tensor] = {}
    for key, value in weights.items():
        if key in IGNORED_KEYS:
            continue
        if key.startswith("visual."):
            key = "model." + key
        elif key.startswith("model.") and not key.startswith(("model.language_model.", "model.visual.")):
            key = "model.language_model." + key.removeprefix("model.")
        out[key] = value
    return out


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    names = {
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
        "fp16": torch.float16,
        "float16": torch.float16,
        "fp32": torch.float32,
        "float32": torch.float32,
    }
    if dtype not in names:
        raise ValueError(f"dtype must be auto, bf16, fp16 or fp32, not {dtype!r}")
    return names[dtype]


def resolve_attn(attn: str, device: torch.device) -> str:
    """transformers' attention implementation, which scoring uses in the vision tower only: the
    language model's layers run in decoder.py, on PyTorch's SDPA whatever this says."""
    if attn == "auto":
        has_flash = importlib.util.find_spec("flash_attn") is not None
        return "flash_attention_2" if has_flash and device.type == "cuda" else "sdpa"
    if attn not in ("flash_attention_2", "sdpa", "eager"):
        raise ValueError(f"attn must be auto, flash_attention_2, sdpa or eager, not {attn!r}")
    return attn


def build_empty(config: Qwen2VLConfig, device: torch.device, dtype: torch.dtype, attn: str) -> M0RankingModel:
    """The model with uninitialised parameters allocated on `device` (weights are loaded or filled next)."""
    config._attn_implementation = attn
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with no_init_weights(), device:
            model = M0RankingModel(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def load_weights_into(model: M0RankingModel, weights: dict[str, torch.Tensor], source: str) -> None:
    expected = set(model.state_dict())
    got = set(weights)
    missing, unexpected = sorted(expected - got), sorted(got - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
        if unexpected:
            parts.append(
                f"unexpected keys: {', '.join(unexpected[:8])}" + (" ..." if len(unexpected) > 8 else "")
            )
        raise ModelLoadError(f"{source} does not match the m0 architecture: " + "; ".join(parts))
    model.load_state_dict(weights, strict=True)


def load_model(folder: Path, device: str = "auto", dtype: str = "auto", attn: str = "auto") -> M0RankingModel:
    dev = resolve_device(device)
    model = build_empty(load_config(folder), dev, resolve_dtype(dtype, dev), resolve_attn(attn, dev))
    load_weights_into(model, to_current_names(read_weights(folder)), str(folder))
    return model


def load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = "<|endoftext|>"
    return tokenizer
