"""Where an m0 checkpoint is: a local folder, checked for its config and weights, or a model id
fetched once from the Hugging Face hub. No torch here, so a missing model is reported before
anything heavy loads, with one message for every command."""

from __future__ import annotations

import re
from pathlib import Path

from reranker.errors import ModelLoadError

MODEL_HINT = (
    "point Folio at a local copy of jina-reranker-m0 (folio rerank --model DIR, folio serve "
    "--reranker local:DIR), e.g. huggingface-cli download jinaai/jina-reranker-m0 --local-dir "
    "./models/jina-reranker-m0"
)
_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as on the hub


def resolve_checkpoint(path_or_id: str) -> Path:
    """The checkpoint folder, or ModelLoadError saying what is missing and how to get the model."""
    path = Path(path_or_id).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{path_or_id} is not a folder: {MODEL_HINT}")
        missing = [] if (path / "config.json").is_file() else ["config.json"]
        if not any(path.glob("*.safetensors")):
            missing.append("*.safetensors")
        if missing:
            raise ModelLoadError(
                f"model folder {path_or_id} is incomplete (missing {', '.join(missing)}): {MODEL_HINT}"
            )
        return path
    if not _MODEL_ID.match(path_or_id):
        raise ModelLoadError(f"model folder {path_or_id} not found: {MODEL_HINT}")
    try:
        from huggingface_hub import snapshot_download

        patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]
        return Path(snapshot_download(path_or_id, allow_patterns=patterns))
    except Exception as exc:  # any hub failure (offline, not found, gated) gets the same advice
        raise ModelLoadError(
            f"model {path_or_id!r} is neither a local folder nor reachable on the Hugging Face hub "
            f"({type(exc).__name__}: {exc}): {MODEL_HINT}"
        ) from None
