"""Shared pieces of the local reranker tests: a loaded tiny model and deterministic test images."""

from __future__ import annotations

import contextlib
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")


def png_bytes(width: int, height: int, seed: int) -> bytes:
    """A noisy RGB image (noise so that different images give clearly different features)."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def m0(tiny_m0_dir: Path) -> Iterator[object]:
    from reranker.m0.reranker import M0Reranker

    model = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", dtype="fp32", max_length=2048)
    yield model
    model.close()


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """A loopback HTTP server for the files of `folder` (image URL tests): its base URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(folder), **kw)

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
