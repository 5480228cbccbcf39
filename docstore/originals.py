"""A document's original file, as `GET /v1/documents/{id}/file` serves it: the `Originals` a store's
shared state holds (see docstore.shared_state). `FileOriginals` serves the document's source path
on this machine; an OpenSearch store keeps uploads' bytes in the store instead
(docstore.opensearch.originals), falling back to the path for documents indexed from disk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from docstore.schema import DocumentInfo


@dataclass(frozen=True)
class Original:
    name: str
    size: int
    path: Path | None = None  # on this machine's disk
    chunks: Iterator[bytes] | None = None  # from the store, read while they are sent


class Originals(Protocol):
    def keep(self, info: DocumentInfo, path: Path) -> bool:
        """Keep the original of an uploaded document just indexed from `path`; True when `path`
        itself is no longer needed."""
        ...

    def open(self, info: DocumentInfo) -> Original | None:
        """The document's original, or None when there is none to serve."""
        ...

    def available(self, info: DocumentInfo) -> bool:
        """Whether `open` would serve an original, without reading any of it."""
        ...


class FileOriginals:
    """Originals where they were indexed from: an upload stays in the upload folder."""

    def keep(self, info: DocumentInfo, path: Path) -> bool:
        return False

    def open(self, info: DocumentInfo) -> Original | None:
        path = Path(info.source)
        if not path.is_file():
            return None
        return Original(name=path.name, size=path.stat().st_size, path=path)

    def available(self, info: DocumentInfo) -> bool:
        return Path(info.source).is_file()
