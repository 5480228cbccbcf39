"""An independent, deliberately plain m0 scorer for tests: one pair at a time through transformers'
Qwen2VLForConditionalGeneration, the prompt built as a string with the image placeholders expanded
in the text (as the Qwen2-VL processor does), no padding, and the score head applied by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, Qwen2VLConfig, Qwen2VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil


class ReferenceM0:
    def __init__(self, folder: Path, max_length: int = 2048) -> None:
        raw = json.loads((folder / "config.json").read_text())
        raw.pop("architectures")
        raw.pop("torch_dtype")
        config = Qwen2VLConfig(**raw)
        config._attn_implementation = "eager"
        self.model = Qwen2VLForConditionalGeneration(config).eval()
        weights = load_file(str(folder / "model.safetensors"))
        self.head = {k: v for k, v in weights.items() if k.startswith("score.")}
        renamed = {}
        for key, value in weights.items():
            if key.startswith("visual."):
                renamed["model.visual." + key[len("visual."):]] = value
            elif key.startswith("model."):
                renamed["model.language_model." + key[len("model."):]] = value
        renamed["lm_head.weight"] = renamed["model.language_model.embed_tokens.weight"]
        self.model.load_state_dict(renamed, strict=True)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.images = Qwen2VLImageProcessorPil(min_pixels=3136, max_pixels=602112)
        self.max_length = max_length

    def _cut(self, text: str, limit: int) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer.decode(ids[:limit]) if len(ids) >= limit else text

    @torch.no_grad()
    def score(self, query: Any, doc: Any) -> float:
        """`query`/`doc`: a str, or a PIL image."""
        images = [x for x in (doc, query) if not isinstance(x, str)]
        slot = "<|vision_start|><|image_pad|><|vision_end|>"
        d = self._cut(doc, max(self.max_length - 512, 512)) if isinstance(doc, str) else slot
        q = self._cut(query, 512) if isinstance(query, str) else slot
        prompt = "**Document**:\n" + d + "\n**Query**:\n" + q
        kwargs: dict[str, Any] = {}
        if images:
            processed = self.images(images=images, return_tensors="pt")
            for grid in processed["image_grid_thw"]:
                n = int(grid.prod()) // 4
                prompt = prompt.replace("<|image_pad|>", "<|placeholder|>" * n, 1)
            prompt = prompt.replace("<|placeholder|>", "<|image_pad|>")
            kwargs = {"pixel_values": processed["pixel_values"], "image_grid_thw": processed["image_grid_thw"]}
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"][: self.max_length - 1] + [100]
        input_ids = torch.tensor([ids])
        if images:
            kwargs["mm_token_type_ids"] = (input_ids == 151655).int()
        out = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                         output_hidden_states=True, **kwargs)
        h = out.hidden_states[-1][0, -1]
        h = torch.relu(h @ self.head["score.0.weight"].T + self.head["score.0.bias"])
        logit = h @ self.head["score.2.weight"].T + self.head["score.2.bias"]
        return float(torch.sigmoid(logit - 2.65))
