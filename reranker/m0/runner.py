"""The model stage: one batch of prepared pairs -> logits. A row whose document prefix is cached runs
only its own query tokens, with that prefix as past keys/values; a row whose prefix is not cached
runs whole, and the keys/values of its prefix are cut from that same pass and cached. Vision
features come from the cache or one vision-tower call for the images the batch still needs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from reranker.m0.decoder import run_layers
from reranker.m0.model import M0RankingModel
from reranker.m0.prefix import PrefixCache, PrefixKV
from reranker.m0.prepare import PreparedPair
from reranker.m0.prompts import left_pad
from reranker.m0.vision import PreparedImage, VisionCache


@dataclass
class _Row:
    """A batch row's images split into those inside its document prefix and those after it."""

    prefix_images: list[PreparedImage]
    suffix_images: list[PreparedImage]
    needs_prefix_images: bool = False

    @classmethod
    def of(cls, pair: PreparedPair, image_token_id: int, tokens: Callable[[tuple[int, int, int]], int]) -> _Row:
        ids = pair.encoded.input_ids if pair.encoded is not None else []
        in_prefix = sum(1 for t in ids[: pair.prefix_len] if t == image_token_id)
        row = cls([], [])
        for im in pair.images:
            (row.prefix_images if in_prefix > 0 else row.suffix_images).append(im)
            in_prefix -= tokens(im.grid_thw) if in_prefix > 0 else 0
        return row

    def needed_images(self) -> list[PreparedImage]:
        return (self.prefix_images if self.needs_prefix_images else []) + self.suffix_images


class ModelRunner:
    def __init__(
        self, model: M0RankingModel, cache: VisionCache, pad_id: int, prefix_cache: PrefixCache | None = None
    ) -> None:
        self.model = model
        self.cache = cache
        self.prefix_cache = prefix_cache if prefix_cache is not None else PrefixCache(0)
        self.pad_id = pad_id
        self.device = next(model.parameters()).device
        self.lock = threading.Lock()  # one batch on the device at a time, whichever call it serves

    def _features(self, images: Sequence[PreparedImage]) -> dict[str, torch.Tensor]:
        found: dict[str, torch.Tensor] = {}
        new: dict[str, PreparedImage] = {}
        for im in images:
            if im.key in found or im.key in new:
                continue
            cached = im.features if im.features is not None else self.cache.get(im.key)
            if cached is not None:
                found[im.key] = cached
            elif im.pixel_values is not None:
                new[im.key] = im
            else:  # evicted between preparation and now, and prepared without pixels: cannot happen
                raise RuntimeError(f"image {im.key} has neither pixels nor cached features")
        if new:
            pixels = torch.from_numpy(np.concatenate([im.pixel_values for im in new.values()]))  # type: ignore[misc]
            grids = torch.tensor([im.grid_thw for im in new.values()])  # (images, 3)
            for im, feats in zip(new.values(), self.model.encode_images(pixels, grids), strict=True):
                self.cache.put(im.key, feats, im.grid_thw)
                found[im.key] = feats
        return found

    def logits(self, batch: Sequence[PreparedPair]) -> torch.Tensor:
        """(batch,) logits, on the device (the caller moves them off, so the device is not stalled).
        Rows whose document prefix is cached run only their query tokens; the others run whole, in
        one pass that also yields their prefix's keys/values for the cache (one row per prefix: a
        second query over the same new document in this batch then runs only its own tokens)."""
        encoded = [p.encoded for p in batch if p.encoded is not None]
        if len(encoded) != len(batch):
            raise ValueError("only successfully prepared pairs can be batched")
        with self.lock:
            ids, mask = left_pad(encoded, self.pad_id)
            ids_t = torch.tensor(ids, device=self.device)  # (batch, width)
            mask_t = torch.tensor(mask, device=self.device)
            images = [im for p in batch for im in p.images]  # row-major = placeholder order
            grid = torch.tensor([im.grid_thw for im in images], device=self.device) if images else None
            # Multimodal RoPE positions of the whole prompts, per row over its unpadded tokens; the
            # prefix and the query part take their slices, so a split never changes a position.
            positions, _ = self.model.model.get_rope_index(
                ids_t,  # type: ignore[arg-type]
                mm_token_type_ids=(ids_t == self.model.image_token_id).int(),  # type: ignore[arg-type]
                image_grid_thw=grid,  # type: ignore[arg-type]
                attention_mask=mask_t,
            )  # (3, batch, width)
            rows = [_Row.of(p, self.model.image_token_id, self.preprocessor_tokens) for p in batch]
            prefixes = {k: p.prefix for p in batch if (k := p.prefix_key) is not None and p.prefix is not None}
            missing: dict[str, int] = {}  # prefix key -> the row that runs whole and yields it
            whole: list[int] = []
            for i, (p, row) in enumerate(zip(batch, rows, strict=True)):
                key = p.prefix_key if p.prefix_len else None
                if key is not None:
                    if key in prefixes or key in missing:  # cached, or another row here yields it
                        continue
                    # An earlier batch of this call may have computed it since the pair was prepared.
                    found = self.prefix_cache.get(key)
                    if found is not None:
                        prefixes[key] = found
                        continue
                    missing[key] = i
                whole.append(i)
                row.needs_prefix_images = True
            needed = [im for row in rows for im in row.needed_images()]
            feats = self._features(needed) if needed else {}
            out = torch.empty(len(batch), device=self.device, dtype=next(self.model.score.parameters()).dtype)
            if whole:
                out[whole] = self._run_whole(batch, rows, whole, missing, ids_t, positions, feats, prefixes)
            ran_whole = set(whole)
            if rest := [i for i in range(len(batch)) if i not in ran_whole]:
                out[rest] = self._run_suffixes(batch, rows, rest, prefixes, ids_t, positions, feats)
            for i, p in enumerate(batch):
                p.prefix_reused = i not in ran_whole
            return out

    def preprocessor_tokens(self, grid: tuple[int, int, int]) -> int:
        t, h, w = grid
        return t * h * w // self.model.merge_size**2

    def _embed(self, ids: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        embeds = self.model.model.language_model.embed_tokens(ids)
        is_image = ids == self.model.image_token_id
        if feats:
            flat = torch.cat(feats)
            if int(is_image.sum()) != flat.shape[0]:
                raise ValueError(f"{int(is_image.sum())} image tokens but {flat.shape[0]} image features")
            embeds = embeds.masked_scatter(is_image.unsqueeze(-1), flat.to(embeds.dtype))
        return embeds  # type: ignore[no-any-return]

    def _run_whole(
        self,
        batch: Sequence[PreparedPair],
        rows: list[_Row],
        picks: list[int],
        missing: dict[str, int],
        ids_t: torch.Tensor,
        positions: torch.Tensor,
        feats: dict[str, torch.Tensor],
        prefixes: dict[str, PrefixKV],
    ) -> torch.Tensor:
        """Logits of the rows in `picks`, whole prompts in one pass; the document prefixes in `missing`
        are cut from that pass's keys/values and cached (added to `prefixes`)."""
        lens = [len(batch[i].encoded or []) for i in picks]
        w = max(lens)
        sel = torch.tensor(picks, device=self.device)
        wfeats = [feats[im.key] for i in picks for im in batch[i].images]
        lm = self.model.model.language_model
        h, kv = run_layers(
            lm, self._embed(ids_t[sel, -w:], wfeats), positions[:, sel, -w:].contiguous(),
            torch.tensor(lens, device=self.device), keep_kv=bool(missing),
        )
        row_of = {i: j for j, i in enumerate(picks)}
        for key, i in missing.items():
            j, start = row_of[i], w - lens[row_of[i]]
            doc_image = rows[i].prefix_images[0] if rows[i].prefix_images else None
            assert kv is not None
            entry = PrefixKV(
                kv[:, :, j, :, start:start + batch[i].prefix_len].clone(), doc_image.grid_thw if doc_image else None
            )
            self.prefix_cache.put(key, entry, doc_image.key if doc_image else None)
            prefixes[key] = entry
        return self.model.score(h).squeeze(-1)  # type: ignore[no-any-return]

    def _run_suffixes(
        self,
        batch: Sequence[PreparedPair],
        rows: list[_Row],
        picks: list[int],
        prefixes: dict[str, PrefixKV],
        ids_t: torch.Tensor,
        positions: torch.Tensor,
        feats: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Logits of the rows in `picks`, each running its tokens after its cached document prefix."""
        lens = [len(batch[i].encoded or []) - batch[i].prefix_len for i in picks]
        sw = max(lens)
        sel = torch.tensor(picks, device=self.device)
        sid = ids_t[sel, -sw:].clone()
        for j, n in enumerate(lens):
            sid[j, : sw - n] = self.pad_id  # the prefix's tokens sit there; they come from the cache
        plen = [batch[i].prefix_len for i in picks]
        first = prefixes[batch[picks[0]].prefix_key or ""].kv
        layers, two, heads, _, hd = first.shape
        past = first.new_zeros((layers, two, len(picks), heads, max(plen), hd))
        for j, i in enumerate(picks):
            past[:, :, j, :, past.shape[-2] - plen[j]:] = prefixes[batch[i].prefix_key or ""].kv
        sfeats = [feats[im.key] for i in picks for im in rows[i].suffix_images]
        lm = self.model.model.language_model
        h, _ = run_layers(
            lm, self._embed(sid, sfeats), positions[:, sel, -sw:].contiguous(),
            torch.tensor(lens, device=self.device), past, torch.tensor(plen, device=self.device),
        )
        return self.model.score(h).squeeze(-1)  # type: ignore[no-any-return]

    def logits_splitting(self, batch: Sequence[PreparedPair]) -> list[tuple[list[int], torch.Tensor]]:
        """Like `logits`, but halves the batch on a device out-of-memory error."""
        try:
            return [([p.index for p in batch], self.logits(batch))]
        except torch.cuda.OutOfMemoryError:
            if len(batch) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(batch) // 2
            return self.logits_splitting(batch[:half]) + self.logits_splitting(batch[half:])
