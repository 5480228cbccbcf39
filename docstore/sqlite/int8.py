"""An int8 copy of the kNN matrix: scanned first, so a large store's query reads a quarter of
the bytes, then the few best rows are rescored exactly in float32.

The exact matvec over 100k x 384 float32 reads 150 MB and is bound by memory bandwidth; the
int8 codes are 38 MB. The query is quantised to int8 too and the scan is SimSIMD's int8 dot
product (AVX2/AVX-512/NEON kernels with exact int32 accumulation): faster on one core than
numpy, which has no fast int8 matvec, on two (timings in BENCHMARKS.md).

Exactness does not depend on luck. Each row i keeps `error[i] = ||row - codes*scale||`; with the
query's own quantisation error e_q, Cauchy-Schwarz bounds how far an approximate score can be
from the exact one by error[i] + (1 + error[i]) * e_q (rows are unit vectors). After the exact
rescoring of the best approximate candidates, every other row whose approximate score plus that
bound could still reach the k-th exact score is rescored too (usually none: the check is one
comparison against the weakest candidate). The result is the float32 brute-force top-k, with
its scores. The scan runs on the calling thread: in a hybrid search it runs beside the FTS5
query, which holds the other core."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import simsimd

CANDIDATE_FACTOR, MIN_CANDIDATES = 4, 200  # rescore the best max(4k, 200) approximate rows
# float32 rounding in the exact dot products (at most ~d * 2^-24 for unit vectors): added to the
# error bound so rounding can never hide a true top-k row
SLACK = 1e-4


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
    ) -> tuple[npt.NDArray[np.float64], float]:
        """Approximate scores of every row (or of `positions`, in that order), and the bound the
        query's own quantisation adds to every row's error."""
        peak = float(np.abs(query).max(initial=0.0))
        step = peak / 127.0 if peak > 0 else 1.0
        q = np.rint(query.astype(np.float64) / step)
        query_error = float(np.linalg.norm(query.astype(np.float64) - q * step)) * (1 + 1e-6) + 1e-7
        codes = q.astype(np.int8)[None, :]
        # a full scan then a gather beats gathering int8 rows first (fancy indexing is the slow part)
        dots = np.asarray(simsimd.cdist(codes, self.codes, metric="dot"), dtype=np.float64)[0]
        bound = query_error * (1 + self.max_error)
        if positions is None:
            return dots * (self.scale * step), bound
        return dots[positions] * (self.scale[positions] * step), bound


def exact_candidates(
    matrix: npt.NDArray[np.float32],
    quantized: Int8Matrix,
    query: npt.NDArray[np.float32],
    approx: npt.NDArray[np.float64],
    positions: npt.NDArray[np.int64] | None,
    k: int,
    query_error: float = 0.0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Matrix rows that surely hold the exact top-k, with their exact float32 scores.

    `approx` holds the approximate scores of `positions` (all rows when None), in that order;
    `query_error` is the bound the query's quantisation adds to each row's (see `scores`)."""
    size = approx.size
    m = min(size, max(CANDIDATE_FACTOR * k, MIN_CANDIDATES))
    picked = np.argpartition(-approx, m - 1)[:m] if m < size else np.arange(size)
    rows = picked if positions is None else positions[picked]
    exact = matrix[rows] @ query
    if m == size:
        return rows, exact
    kth = float(np.partition(exact, exact.size - k)[exact.size - k])  # k-th best exact score
    floor = kth - SLACK - query_error
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
