"""What to index: files found under the given paths, their content hashes and stable ids,
and text files (.txt, .md) as one text page each."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from indexer.text import clean_text, detect_language, first_line_title

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
MAX_TEXT_CHARS = 2_000_000  # a text file is one page; beyond this it is cut (and says so)


@dataclass(frozen=True)
class SourceFile:
    path: Path  # resolved
    kind: Literal["pdf", "text"]


class NoSuchPath(FileNotFoundError):
    pass


def discover(paths: list[str | Path]) -> Iterator[SourceFile]:
    """PDF and text files under `paths` (files or folders, walked recursively in sorted order,
    hidden entries skipped). A path that does not exist raises NoSuchPath before anything runs."""
    resolved = [Path(p).expanduser().resolve() for p in paths]
    missing = [str(p) for p in resolved if not p.exists()]
    if missing:
        raise NoSuchPath(f"no such file or folder: {', '.join(missing)}")
    seen: set[Path] = set()
    for root in resolved:
        for path in [root] if root.is_file() else _walk(root):
            kind = _kind(path)
            if kind and path not in seen:
                seen.add(path)
                yield SourceFile(path=path, kind=kind)


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _kind(path: Path) -> Literal["pdf", "text"] | None:
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        return "pdf"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return None


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_doc_id(collection: str, path: Path) -> str:
    """Stable per (collection, resolved path): the same file in two collections is two documents."""
    return hashlib.sha256(f"{collection}\0{path}".encode()).hexdigest()[:24]


def page_id(doc_id: str, page_number: int) -> str:
    return f"{doc_id}:{page_number}"


@dataclass
class TextDocument:
    text: str
    title: str
    language: str


def read_text_document(path: Path) -> TextDocument:
    """Decode as UTF-8 (BOM tolerated), falling back to Latin-1 for legacy files."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = clean_text(text[:MAX_TEXT_CHARS])
    return TextDocument(
        text=text, title=first_line_title(text) or path.stem, language=detect_language(text[:20000])
    )
