"""What to index: files found under the given paths, their content hashes and stable ids,
and text files (.txt, .md) as one text page each."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from indexer.text import clean_text, detect_language, first_line_title

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
MAX_TEXT_CHARS = 2_000_000  # a text file is one page; beyond this it is cut (and the run says so)


@dataclass(frozen=True)
class SourceFile:
    path: Path  # resolved
    kind: Literal["pdf", "text"]


class NoSuchPath(FileNotFoundError):
    pass


def discover(paths: list[str | Path]) -> Iterator[SourceFile]:
    """PDF and text files under `paths` (files or folders, walked recursively in sorted order,
    hidden entries skipped; links to folders are not followed). A path that does not exist raises
    NoSuchPath before anything runs."""
    resolved = [Path(p).expanduser().resolve() for p in paths]
    missing = [str(p) for p in resolved if not p.exists()]
    if missing:
        raise NoSuchPath(f"no such file or folder: {', '.join(missing)}")
    seen: set[Path] = set()
    for root in resolved:
        for path in _walk(root) if root.is_dir() else [root]:
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
    """sha256 of the file's content. Only a regular file is read: a FIFO or a device named like a
    PDF would block the run forever, so it fails here (an OSError) like an unreadable file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # opening a FIFO must not wait either
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        h = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_doc_id(collection: str, path: Path) -> str:
    """Stable per (collection, resolved path): the same file in two collections is two documents."""
    return hashlib.sha256(f"{collection}\0{path}".encode()).hexdigest()[:24]


@dataclass
class TextDocument:
    text: str
    title: str
    language: str
    truncated: bool = False  # the file held more than MAX_TEXT_CHARS characters


def read_text_document(path: Path) -> TextDocument:
    """Decode as UTF-8 (BOM tolerated), falling back to Latin-1 for legacy files. Only the bytes that
    can hold MAX_TEXT_CHARS characters are read, so a huge file costs no more memory than that."""
    limit = MAX_TEXT_CHARS * 4  # UTF-8 needs at most 4 bytes a character
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    cut = len(raw) > limit
    raw = raw[:limit]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if cut and exc.start >= len(raw) - 3:  # the read ended inside a character
            text = raw[: exc.start].decode("utf-8-sig")
        else:
            text = raw.decode("latin-1")
    cut = cut or len(text) > MAX_TEXT_CHARS
    text = clean_text(text[:MAX_TEXT_CHARS])
    return TextDocument(
        text=text,
        title=first_line_title(text) or path.stem,
        language=detect_language(text[:20000]),
        truncated=cut,
    )
