"""Finding the sources under a run's paths: files, folders (walked) and s3://bucket/prefix
(listed), each source once and in order; and, after the listing, the documents indexed from under
those paths whose file or object is gone."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from docstore.schema import DocumentInfo
from indexer.s3_sources import S3Root, is_s3_uri
from indexer.sources import NoSuchPath, Source, SourceFile, kind_of


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
