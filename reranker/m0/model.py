"""The m0 ranking model on transformers' Qwen2-VL classes: the Qwen2-VL backbone plus the score
head `Linear(h, h) -> ReLU -> Linear(h, 1)` read at the last token after the final RMSNorm."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Qwen2VLConfig, Qwen2VLModel

# Subnormal floats (activations next to zero, e.g. SiLU of a large negative) send CPU matmuls down a
# path many times slower, at random from one call to the next; as zeros they change no score. The
# flag is per thread and torch's CPU worker threads copy it when they start, so it is set when the
# model code is imported, before any model runs.
torch.set_flush_denormal(True)

LOGIT_BIAS = 2.65  # score = sigmoid(head(h_last) - 2.65)


class M0RankingModel(nn.Module):
    """Parameter names follow transformers 5 (`model.language_model.*`, `model.visual.*`, `score.*`)."""

    def __init__(self, config: Qwen2VLConfig) -> None:
        super().__init__()
        self.config = config
        self.model = Qwen2VLModel(config)
        hidden = int(config.text_config.hidden_size)  # type: ignore[union-attr]
        self.score = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    @property
    def image_token_id(self) -> int:
        return int(self.config.image_token_id)

    @property
    def merge_size(self) -> int:
        return int(self.config.vision_config.spatial_merge_size)  # type: ignore[union-attr]

    @torch.inference_mode()
    def encode_images(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> list[torch.Tensor]:
        """Vision tower for several images at once (attention stays within each image):
        pixel_values (patches, 3*2*14*14), grid_thw (images, 3) -> per image (tokens, hidden)."""
        visual = self.model.visual
        weight = next(visual.parameters())
        out: Any = visual(pixel_values.to(weight.device, weight.dtype), grid_thw=grid_thw.to(weight.device))
        merged = out.pooler_output  # (sum of merged tokens, hidden)
        sizes = (grid_thw.prod(-1) // self.merge_size**2).tolist()
        return list(torch.split(merged, sizes))

    @torch.inference_mode()
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        image_embeds: torch.Tensor | None = None,
        image_grid_thw: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """input_ids, attention_mask: (batch, seq), left-padded, each row ending in token 100;
        image_embeds: (image tokens in row-major order, hidden). Returns logits (batch,)."""
        lm = self.model.language_model
        embeds = lm.embed_tokens(input_ids)  # (batch, seq, hidden)
        is_image = input_ids == self.image_token_id  # (batch, seq)
        if image_embeds is not None:
            if int(is_image.sum()) != image_embeds.shape[0]:
                raise ValueError(f"{int(is_image.sum())} image tokens but {image_embeds.shape[0]} image features")
            embeds = embeds.masked_scatter(is_image.unsqueeze(-1), image_embeds.to(embeds.dtype))
        # Multimodal RoPE positions per row over its unpadded tokens only, so a row's positions do not
        # depend on how much padding the batch gave it.
        position_ids, _ = self.model.get_rope_index(
            input_ids,  # type: ignore[arg-type]
            mm_token_type_ids=is_image.int(),  # type: ignore[arg-type]
            image_grid_thw=image_grid_thw,  # type: ignore[arg-type]
            attention_mask=attention_mask,
        )  # (3, batch, seq)
        out: Any = lm(
            inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        )
        h_last = out.last_hidden_state[:, -1]  # (batch, hidden), after the final RMSNorm
        return self.score(h_last).squeeze(-1)  # (batch,)


def logits_to_scores(logits: torch.Tensor) -> list[float]:
    return [float(x) for x in torch.sigmoid(logits.float() - LOGIT_BIAS).cpu().tolist()]
