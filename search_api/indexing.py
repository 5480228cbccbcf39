"""Indexing one uploaded file with the indexer pipeline, reported as a job file entry."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from docstore.originals import Originals
from docstore.protocol import Store
from indexer.sources import make_doc_id
from search_api.auth import Caller
from search_api.models import JobFile
from search_api.upload_names import UploadNames

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
    keeps it for /v1/documents/{doc_id}/file (where it is beside a SQLite store; in the store on
    OpenSearch, which frees the file). Re-uploading a name replaces that document (unchanged
    content is not re-indexed) when the uploader may change it, as for a delete; otherwise the
    upload is stored as `<stem> (2)<suffix>` (or the next free number), so nobody's document is
    replaced by a caller who could not delete it. A name is claimed in the store while its upload
    is indexed (`names`), so two uploads of one name at once, on any servers of the store, never
    pick the same free name: the second takes the next number."""

    def __init__(
        self,
        store: Store,
        upload_dir: Path,
        embedder: str | None,
        workers: int,
        originals: Originals,
        names: UploadNames,
    ) -> None:
        self.store = store
        self.upload_dir = upload_dir
        self.embedder = embedder
        self.workers = workers
        self.originals = originals
        self.names = names
        self._loaded: Embedder | None = None  # kept across uploads: loading one is costly

    def __call__(self, incoming: Path, collection: str, acl: list[str], caller: Caller) -> JobFile:
        folder = self.upload_dir / safe_name(collection)
        folder.mkdir(parents=True, exist_ok=True)
        target, doc_id = self._claim(folder, incoming.name.split("__", 1)[-1], collection, caller)
        try:
            return self._index(incoming, target, doc_id, collection, acl)
        finally:
            self.names.release(doc_id)

    def _index(self, incoming: Path, target: Path, doc_id: str, collection: str, acl: list[str]) -> JobFile:
        from docstore.embedders.binding import embedder_for_indexing
        from indexer.pipeline import Indexer
        from indexer.summary import IndexOptions

        name = target.name
        os.replace(incoming, target)
        options = IndexOptions(
            collection=collection, groups=acl, workers=self.workers, embedder=self.embedder, quiet=True
        )
        embedder = embedder_for_indexing(self.store, self.embedder, loaded=self._loaded)
        self._loaded = embedder
        summary = Indexer(self.store, options, embedder=embedder).run([target])
        if summary.files_indexed or summary.files_unchanged:
            self._keep_original(doc_id, target)
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

    def _claim(self, folder: Path, name: str, collection: str, caller: Caller) -> tuple[Path, str]:
        """Where the upload goes, and its document id, claimed: its own name unless another upload
        holds it or it names a document the caller may not change, else the first such number."""
        stem, suffix = Path(name).stem, Path(name).suffix
        path, number = folder / name, 1
        while True:
            doc_id = make_doc_id(collection, path.resolve())
            if self.names.claim(doc_id, f"{collection}/{path.name}"):
                # read once claimed, so no upload of the name can have begun its document since
                existing = self.store.get_document(doc_id)
                if existing is None or caller.may_change(existing.acl):
                    return path, doc_id
                self.names.release(doc_id)
            number += 1
            path = folder / f"{stem} ({number}){suffix}"
