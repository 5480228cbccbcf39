"""Indexing one uploaded file with the indexer pipeline, reported as a job file entry."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from docstore.protocol import Store
from indexer.sources import make_doc_id
from search_api.auth import Caller
from search_api.models import JobFile
from search_api.originals import FileOriginals, Originals

if TYPE_CHECKING:
    from docstore.embedders import Embedder

ALLOWED_SUFFIXES = {".pdf", ".txt", ".md", ".markdown"}
_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_name(name: str) -> str:
    """A file name that cannot climb out of the upload folder or hide itself."""
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip(" .")
    return base[:200] or "upload"


class UploadIndexer:
    """Moves an uploaded file into `upload_dir/<collection>/<name>` and indexes it there; `originals`
    keeps it for /v1/documents/{doc_id}/file (where it is, by default; in the store, which frees the
    file). Re-uploading a name replaces that document (unchanged content is not re-indexed) when
    the uploader may change it, as for a delete; otherwise the upload is stored as
    `<stem> (2)<suffix>` (or the next free number), so nobody's document is replaced by a caller
    who could not delete it. Jobs run one at a time, so no two uploads pick the same free name."""

    def __init__(
        self,
        store: Store,
        upload_dir: Path,
        embedder: str | None,
        workers: int,
        originals: Originals | None = None,
    ) -> None:
        self.store = store
        self.upload_dir = upload_dir
        self.embedder = embedder
        self.workers = workers
        self.originals = originals or FileOriginals()
        self._loaded: Embedder | None = None  # kept across uploads: loading one is costly

    def __call__(self, incoming: Path, collection: str, acl: list[str], caller: Caller) -> JobFile:
        from docstore.embedders.binding import embedder_for_indexing
        from indexer.pipeline import Indexer
        from indexer.summary import IndexOptions

        folder = self.upload_dir / safe_name(collection)
        folder.mkdir(parents=True, exist_ok=True)
        target = self._target(folder, incoming.name.split("__", 1)[-1], collection, caller)
        name = target.name
        os.replace(incoming, target)
        options = IndexOptions(
            collection=collection, groups=acl, workers=self.workers, embedder=self.embedder, quiet=True
        )
        embedder = embedder_for_indexing(self.store, self.embedder, loaded=self._loaded)
        self._loaded = embedder
        summary = Indexer(self.store, options, embedder=embedder).run([target])
        if summary.files_indexed or summary.files_unchanged:
            self._keep_original(make_doc_id(collection, target.resolve()), target)
        if summary.skipped:
            return JobFile(name=name, state="skipped", error=summary.skipped[0].reason)
        if summary.files_unchanged:
            return JobFile(
                name=name, state="skipped", error="unchanged: already indexed with the same content"
            )
        error = None
        if summary.failed_pages:
            first = summary.failed_pages[0]
            error = (
                f"{len(summary.failed_pages)} page(s) failed, e.g. page {first.page_number}: {first.reason}"
            )
        if not summary.files_indexed:
            return JobFile(
                name=name, state="failed", pages=summary.pages_indexed, error=error or "not indexed"
            )
        return JobFile(name=name, state="indexed", pages=summary.pages_indexed, error=error)

    def _keep_original(self, doc_id: str, path: Path) -> None:
        info = self.store.get_document(doc_id)
        if info is not None and self.originals.keep(info, path):
            path.unlink(missing_ok=True)

    def _target(self, folder: Path, name: str, collection: str, caller: Caller) -> Path:
        """Where the upload goes: its own name unless that names a document the caller may not change."""
        stem, suffix = Path(name).stem, Path(name).suffix
        path, number = folder / name, 1
        while (
            existing := self.store.get_document(make_doc_id(collection, path.resolve()))
        ) is not None and not caller.may_change(existing.acl):
            number += 1
            path = folder / f"{stem} ({number}){suffix}"
        return path
