"""An int8 copy of the kNN matrix: scanned first, so a large store's query reads a quarter of
the bytes, then the few best rows are rescored exactly in float32.

The exact matvec over 100k x 384 float32 reads 150 MB and is bound by memory bandwidth; the
int8 codes are 38 MB. numpy has no fast int8 matvec, so the codes are widened to float32 a
block of rows at a time (the block stays in cache) and multiplied there by BLAS.

Exactness does not depend on luck. Each row i keeps `error[i] = ||row - codes*scale||`, which by
Cauchy-Schwarz bounds how far its approximate score can be from the exact one for a unit query.
After the exact rescoring of the best approximate candidates, every other row whose approximate
score plus its error could still reach the k-th exact score is rescored too (usually none: the
check is one comparison against the weakest candidate). The result is the float32 brute-force
top-k, with its scores.

A large scan is split over FOLIO_KNN_SCAN_THREADS threads (default: 2, or 1 on a one-core
machine): the casts and BLAS calls release the GIL, and Python threads (unlike OpenBLAS's own)
do not spin-wait, so a busy machine loses nothing while an idle one answers about twice as
fast."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

BLOCK_ROWS = 1024  # rows widened to float32 at a time: 1.5 MB at 384 dims, stays in L2/L3
CANDIDATE_FACTOR, MIN_CANDIDATES = 4, 200  # rescore the best max(4k, 200) approximate rows
# float32 rounding in the approximate and the exact dot products (each at most ~d * 2^-24 for
# unit vectors): added to the error bound so rounding can never hide a true top-k row
SLACK = 1e-4
PARALLEL_MIN_ROWS = 40_000  # below this a thread hand-off costs more than half a scan saves


@lru_cache(maxsize=1)
def scan_threads() -> int:
    wanted = os.environ.get("FOLIO_KNN_SCAN_THREADS")
    return max(1, int(wanted)) if wanted else min(2, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def _scan_pool() -> ThreadPoolExecutor:
    # the calling thread scans one part itself, so the pool needs one worker fewer
    return ThreadPoolExecutor(max_workers=max(1, scan_threads() - 1), thread_name_prefix="folio-int8")


@dataclass(frozen=True)
class Int8Matrix:
    codes: npt.NDArray[np.int8]  # (n, dim): row i is approximately codes[i] * scale[i]
    scale: npt.NDArray[np.float32]  # (n,) per-row max |x| / 127
    error: npt.NDArray[np.float32]  # (n,) ||row_i - codes[i] * scale[i]||, rounded up
    max_error: float

    @classmethod
    def quantize(cls, matrix: npt.NDArray[np.float32], block: int = 4096) -> Int8Matrix:
        n, dim = matrix.shape
        codes = np.empty((n, dim), dtype=np.int8)
        scale = np.empty(n, dtype=np.float32)
        error = np.empty(n, dtype=np.float32)
        for start in range(0, n, block):  # blocks: no second full-size float temporary
            rows = matrix[start : start + block].astype(np.float64)
            peak = np.abs(rows).max(axis=1)
            step = np.where(peak == 0, 1.0, peak / 127.0)
            q = np.rint(rows / step[:, None])
            codes[start : start + block] = q.astype(np.int8)
            scale[start : start + block] = step
            # the error of the row as scored (codes times the float32 scale), in float64
            back = q * step.astype(np.float32).astype(np.float64)[:, None]
            error[start : start + block] = np.linalg.norm(rows - back, axis=1) * (1 + 1e-6) + 1e-7
        return cls(codes=codes, scale=scale, error=error, max_error=float(error.max(initial=0.0)))

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.scale.nbytes + self.error.nbytes

    def scores(
        self, query: npt.NDArray[np.float32], positions: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[np.float32]:
        """Approximate scores of every row (or of `positions`, in that order)."""
        count = self.codes.shape[0] if positions is None else positions.size
        out = np.empty(count, dtype=np.float32)
        parts = scan_threads() if count >= PARALLEL_MIN_ROWS else 1
        step = -(-count // (parts * BLOCK_ROWS)) * BLOCK_ROWS  # part size, whole blocks
        bounds = [(start, min(start + step, count)) for start in range(0, count, step)]
        pending = [_scan_pool().submit(self._scan, query, positions, out, *b) for b in bounds[1:]]
        self._scan(query, positions, out, *bounds[0])
        for future in pending:
            future.result()
        out *= self.scale if positions is None else self.scale[positions]
        return out

    def _scan(
        self,
        query: npt.NDArray[np.float32],
        positions: npt.NDArray[np.int64] | None,
        out: npt.NDArray[np.float32],
        first: int,
        end: int,
    ) -> None:
        buf = np.empty((min(BLOCK_ROWS, end - first), self.codes.shape[1]), dtype=np.float32)
        for start in range(first, end, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, end)
            block = self.codes[start:stop] if positions is None else self.codes[positions[start:stop]]
            wide = buf[: stop - start]
            np.copyto(wide, block, casting="unsafe")
            np.matmul(wide, query, out=out[start:stop])


def exact_candidates(
    matrix: npt.NDArray[np.float32],
    quantized: Int8Matrix,
    query: npt.NDArray[np.float32],
    approx: npt.NDArray[np.float32],
    positions: npt.NDArray[np.int64] | None,
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Matrix rows that surely hold the exact top-k, with their exact float32 scores.

    `approx` holds the approximate scores of `positions` (all rows when None), in that order."""
    size = approx.size
    m = min(size, max(CANDIDATE_FACTOR * k, MIN_CANDIDATES))
    picked = np.argpartition(-approx, m - 1)[:m] if m < size else np.arange(size)
    rows = picked if positions is None else positions[picked]
    exact = matrix[rows] @ query
    if m == size:
        return rows, exact
    kth = float(np.partition(exact, exact.size - k)[exact.size - k])  # k-th best exact score
    floor = kth - SLACK
    # every unpicked row scores at most the weakest pick approximately, so this one comparison
    # usually proves that no unpicked row can reach the k-th exact score
    if float(approx[picked].min()) + quantized.max_error < floor:
        return rows, exact
    error = quantized.error if positions is None else quantized.error[positions]
    reachable = np.flatnonzero(approx + error >= floor)
    extra = np.setdiff1d(reachable, picked, assume_unique=True)
    if extra.size == 0:
        return rows, exact
    extra_rows = extra if positions is None else positions[extra]
    return np.concatenate([rows, extra_rows]), np.concatenate([exact, matrix[extra_rows] @ query])
