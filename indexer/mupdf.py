"""PyMuPDF, imported without the optional add-ons that PyMuPDF 2 loads eagerly when installed:
`pymupdf.layout` (the layout analyser) and `pymupdf4llm` (Markdown export). Together they pull in
an ONNX runtime and numpy and make `import pymupdf` much slower in every worker process;
the indexer uses neither (plain text blocks are what it needs)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("PYMUPDF_SUGGEST_LAYOUT_ANALYZER", "0")
_ADD_ONS = ("pymupdf.layout", "pymupdf4llm")
_blocked: list[str] = []
if "pymupdf" not in sys.modules:
    for _name in _ADD_ONS:
        if _name not in sys.modules:
            sys.modules[_name] = None  # type: ignore[assignment]  # makes `import <name>` fail fast
            _blocked.append(_name)

import pymupdf  # noqa: E402

for _name in _blocked:
    if sys.modules.get(_name, 0) is None:
        del sys.modules[_name]  # whoever asks for it explicitly later still gets it

# MuPDF reports repairs of damaged files on stderr; the indexer reports its own one-line reasons.
pymupdf.TOOLS.mupdf_display_errors(False)
pymupdf.TOOLS.mupdf_display_warnings(False)

__all__ = ["pymupdf"]
