"""What to index: the sources under the given paths (local files, or objects under s3:// prefixes:
indexer.s3_sources), their content fingerprints and stable ids, and text files (.txt, .md) as one
text page each.

A source is anything with the `Source` methods: the pipeline (and any other page pool) asks it for
its stamp and fingerprint to skip what has not changed, then for a local copy that workers open as a
file. A local file is its own copy; an object is downloaded to a temporary file first."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from docstore.schema import DocumentInfo
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


class Root(Protocol):
    """One of the paths given to a run: where its sources come from, and which indexed documents
    it would have found."""

    @property
    def lists(self) -> bool:
        """Whether it holds what it finds by listing (a folder, a prefix): only then can a source
        indexed from it be gone."""
        ...

    def sources(self) -> Iterator[Source]: ...

    def gone(self, uri: str, seen: set[str]) -> bool:
        """Whether the document indexed from `uri` came from under this root and is not there now."""
        ...


@dataclass(frozen=True)
class FolderRoot:
    folder: Path  # resolved
    lists: bool = True

    def sources(self) -> Iterator[Source]:
        for path in _walk(self.folder):
            kind = kind_of(path.name)
            if kind:
                yield SourceFile(path=path, kind=kind)

    def gone(self, uri: str, seen: set[str]) -> bool:
        # Not found by this run's walk and not on disk: a hidden file or one behind a link to a
        # folder, indexed when named on its own, is not found by the walk but is not gone.
        inside = uri.startswith(os.path.join(self.folder, ""))
        return inside and uri not in seen and not os.path.lexists(uri)


@dataclass(frozen=True)
class FileRoot:
    path: Path  # resolved
    lists: bool = False

    def sources(self) -> Iterator[Source]:
        kind = kind_of(self.path.name)
        if kind:
            yield SourceFile(path=self.path, kind=kind)

    def gone(self, uri: str, seen: set[str]) -> bool:
        return False  # it exists: Discovery refuses a missing path before the run


class Discovery:
    """The sources under a run's paths, in order, each once; and, once they have all been
    listed, the documents indexed from under those paths whose source is gone."""

    def __init__(self, roots: list[Root]):
        self.roots = roots
        self.seen: set[str] = set()

    def __iter__(self) -> Iterator[Source]:
        for root in self.roots:
            for source in root.sources():
                if source.uri not in self.seen:
                    self.seen.add(source.uri)
                    yield source

    @property
    def lists(self) -> bool:
        return any(root.lists for root in self.roots)

    def gone(self, indexed: Iterable[DocumentInfo]) -> list[DocumentInfo]:
        return [d for d in indexed if any(root.gone(d.source, self.seen) for root in self.roots)]


def discover(paths: list[str | Path], s3_endpoint: str | None = None) -> Discovery:
    """PDF and text sources under `paths`: files or folders (walked recursively in sorted order,
    hidden entries skipped; links to folders are not followed), and s3://bucket/prefix (the objects
    under the prefix, in key order; indexer.s3_sources). A local path that does not exist raises
    NoSuchPath, and an S3 location that cannot be listed SourceUnavailable, before anything runs."""
    from indexer.s3_sources import S3Root, is_s3_uri

    local = [Path(p).expanduser().resolve() for p in paths if not is_s3_uri(p)]
    missing = [str(p) for p in local if not p.exists()]
    if missing:
        raise NoSuchPath(f"no such file or folder: {', '.join(missing)}")
    roots: list[Root] = []
    for p in paths:
        if is_s3_uri(p):
            roots.append(S3Root.open(str(p), s3_endpoint))
        else:
            path = Path(p).expanduser().resolve()
            roots.append(FolderRoot(path) if path.is_dir() else FileRoot(path))
    return Discovery(roots)


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


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
