"""PyMuPDF, imported without the optional layout analyser that PyMuPDF 2 loads eagerly when the
`pymupdf-layout` package is installed: it pulls in an ONNX runtime and doubles the import time of
every worker process, and the indexer does not use it (plain text blocks are what it needs)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("PYMUPDF_SUGGEST_LAYOUT_ANALYZER", "0")
_blocked = False
if "pymupdf" not in sys.modules and "pymupdf.layout" not in sys.modules:
    sys.modules["pymupdf.layout"] = None  # type: ignore[assignment]  # makes `import pymupdf.layout` fail fast
    _blocked = True

import pymupdf  # noqa: E402

if _blocked and sys.modules.get("pymupdf.layout", 0) is None:
    del sys.modules["pymupdf.layout"]  # whoever asks for it explicitly later still gets it

__all__ = ["pymupdf"]
