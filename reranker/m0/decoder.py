"""The language model's layers run by hand on Qwen2-VL's own modules, for two things the stock
forward cannot do: continue from a cached document key/value prefix (the document comes first, so
its keys and values do not depend on the query), hand back the keys/values of a whole-prompt pass so
its document prefix can be cached without a pass of its own, and skip the last layer's queries,
attention output and MLP for every position but the score token (only its final hidden state is read)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers.models.qwen2_vl.modeling_qwen2_vl import apply_rotary_pos_emb, repeat_kv, rotate_half


def attention_mask(prefix_lens: torch.Tensor, prefix_width: int, lens: torch.Tensor, width: int) -> torch.Tensor:
    """Boolean (batch, 1, width, prefix_width + width) mask. Each row's prefix is right-aligned in the
    first `prefix_width` key columns and its own tokens right-aligned in the last `width`; a real
    query sees its row's prefix and its row's earlier tokens. A padding query sees only itself (so
    no row is all-masked); its output is never read."""
    dev = lens.device
    t = torch.arange(width, device=dev)
    valid = t[None, :] >= (width - lens)[:, None]  # (batch, width)
    causal = t[None, :] <= t[:, None]  # (query, key)
    own = causal[None] & valid[:, None, :]
    own = own | (torch.eye(width, dtype=torch.bool, device=dev)[None] & ~valid[:, :, None])
    p = torch.arange(prefix_width, device=dev)
    pre = (p[None, :] >= (prefix_width - prefix_lens)[:, None])[:, None, :] & valid[:, :, None]
    return torch.cat([pre, own], dim=-1)[:, None]


def _attend(
    attn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool
) -> torch.Tensor:
    groups = attn.num_key_value_groups
    out = F.scaled_dot_product_attention(
        q, repeat_kv(k, groups), repeat_kv(v, groups), attn_mask=mask, is_causal=causal, scale=attn.scaling
    )  # (batch, heads, queries, head_dim)
    b, _, s, _ = out.shape
    return attn.o_proj(out.transpose(1, 2).reshape(b, s, -1))  # type: ignore[no-any-return]


def run_layers(
    lm: Any,
    embeds: torch.Tensor,
    positions: torch.Tensor,
    lens: torch.Tensor,
    past: torch.Tensor | None = None,
    past_lens: torch.Tensor | None = None,
    keep_kv: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """embeds (batch, width, hidden) left-padded, `lens` real tokens per row; positions (3, batch,
    width); past (layers, 2, batch, kv_heads, past_width, head_dim) with `past_lens` real entries per
    row, right-aligned. Returns (final-norm hidden state of each row's last token (batch, hidden),
    this call's keys/values (layers, 2, batch, kv_heads, width, head_dim) when keep_kv, else None)."""
    batch, width, _ = embeds.shape
    past_width = 0 if past is None else past.shape[-2]
    # Rows of one length with no cached prefix need no mask: plain causal attention, whose memory
    # is linear in the width (a (width, width) mask of a 10k-token pair is hundreds of MB) and
    # which lets SDPA pick its flash kernel.
    dense = past is None and bool((lens == width).all())
    mask: torch.Tensor | None = None
    if not dense:
        plens = past_lens if past_lens is not None else torch.zeros_like(lens)
        mask = attention_mask(plens, past_width, lens, width)
    cos, sin = lm.rotary_emb(embeds, positions)  # (batch, width, head_dim): multimodal RoPE already mixed
    layers = list(lm.layers)
    kv: torch.Tensor | None = None
    h = embeds
    for i, layer in enumerate(layers):
        attn = layer.self_attn
        x = layer.input_layernorm(h)
        hd = attn.head_dim
        k = attn.k_proj(x).view(batch, width, -1, hd).transpose(1, 2)
        v = attn.v_proj(x).view(batch, width, -1, hd).transpose(1, 2)
        if i == len(layers) - 1:
            # Only the score token's query: the other positions' outputs of this layer are never read.
            x, h = x[:, -1:], h[:, -1:]
            mask = mask[:, :, -1:] if mask is not None else None
            q = attn.q_proj(x).view(batch, 1, -1, hd).transpose(1, 2)
            c, s = cos[:, None, -1:], sin[:, None, -1:]
            q = q * c + rotate_half(q) * s
            k = k * cos[:, None] + rotate_half(k) * sin[:, None]
        else:
            q = attn.q_proj(x).view(batch, width, -1, hd).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
        if keep_kv:
            if kv is None:
                kv = k.new_empty((len(layers), 2, *k.shape))
            kv[i, 0], kv[i, 1] = k, v
        if past is not None:
            k = torch.cat([past[i, 0], k], dim=2)
            v = torch.cat([past[i, 1], v], dim=2)
        # The last layer's one query (the last token) sees every key: causal only before it.
        h = h + _attend(attn, q, k, v, mask, causal=dense and i < len(layers) - 1)
        h = h + layer.mlp(layer.post_attention_layernorm(h))
    return lm.norm(h[:, -1]), kv
