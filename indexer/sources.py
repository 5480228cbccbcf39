"""What a source is (the `Source` protocol), local files as sources, their content hashes and
stable ids, and text files (.txt, .md) as one text page each. Objects in S3 are in
indexer.s3_sources; finding the sources under a run's paths is indexer.discovery.

A source is anything with the `Source` methods: the pipeline (and any other page pool) asks it for
its stamp and fingerprint to skip what has not changed, then for a local copy that workers open as a
file. A local file is its own copy; an object is downloaded to a temporary file first."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from indexer.text import clean_text, detect_language, first_line_title

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
MAX_TEXT_CHARS = 2_000_000  # a text file is one page; beyond this it is cut (and the run says so)
TEXT_BYTES_READ = MAX_TEXT_CHARS * 4 + 1  # UTF-8 needs at most 4 bytes a character; +1 tells a cut

Kind = Literal["pdf", "text"]


@dataclass(frozen=True)
class Stamp:
    """A version of a source as seen without reading it: a failure is remembered with it, so an
    unchanged copy of a file that could not be opened is skipped rather than opened again."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class LocalCopy:
    """A source's bytes as a file on this machine. `folder` is set when the copy is temporary: it
    is removed (with the file in it) by release()."""

    path: Path
    folder: Path | None = None

    def release(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class FetchFailed(Exception):
    """A source that could not be copied to this machine; the message is the reason it is skipped."""


class SourceUnavailable(Exception):
    """Where the sources are cannot be listed at all (a missing bucket, refused credentials, an
    unreachable endpoint): the run stops with this one message."""


class Source(Protocol):
    """What the pipeline reads from a source. Sources are plain picklable values, so a pool in
    another process can fetch them itself."""

    @property
    def kind(self) -> Kind: ...

    @property
    def uri(self) -> str:
        """The document's identity and its `source`: a resolved path, or s3://bucket/key."""
        ...

    def stamp(self) -> Stamp:
        """Raises OSError when the source cannot be looked at."""
        ...

    def fingerprint(self) -> str:
        """What DocumentInfo.content_hash holds for this version: an unchanged source has the same
        one. Raises OSError when the source cannot be read."""
        ...

    def fetch(self, max_bytes: int) -> LocalCopy:
        """The bytes as a local file (release() it when done). Raises FetchFailed."""
        ...


@dataclass(frozen=True)
class SourceFile:
    path: Path  # resolved
    kind: Kind

    @property
    def uri(self) -> str:
        return str(self.path)

    def stamp(self) -> Stamp:
        st = os.stat(self.path)
        return Stamp(st.st_size, st.st_mtime_ns)

    def fingerprint(self) -> str:
        return content_hash(self.path)

    def fetch(self, max_bytes: int) -> LocalCopy:
        return LocalCopy(self.path)  # read where it is: no copy, so no size limit either


class NoSuchPath(FileNotFoundError):
    pass


def kind_of(name: str) -> Kind | None:
    suffix = Path(name).suffix.lower()
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


def make_doc_id(collection: str, uri: str | Path) -> str:
    """Stable per (collection, source uri or resolved path): the same file in two collections is
    two documents."""
    return hashlib.sha256(f"{collection}\0{uri}".encode()).hexdigest()[:24]


@dataclass
class TextDocument:
    text: str
    title: str
    language: str
    truncated: bool = False  # the file held more than MAX_TEXT_CHARS characters


def read_text_document(path: Path) -> TextDocument:
    """Decode as UTF-8 (BOM tolerated), falling back to Latin-1 for legacy files. Only the bytes that
    can hold MAX_TEXT_CHARS characters are read, so a huge file costs no more memory than that."""
    limit = TEXT_BYTES_READ - 1
    with open(path, "rb") as f:
        raw = f.read(TEXT_BYTES_READ)
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
