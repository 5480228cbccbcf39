"""The ingest pipeline: sources (files, S3 objects: indexer.sources) → (worker processes, or Ray
tasks across a cluster with `ray` set: open, render, extract, OCR, and for light CPU embedders the
embedding) → batches embedded in a thread of this process otherwise → bulk writes. Idempotent by
content hash; resumable because a document is marked complete only after all its pages are
written, and an incomplete one is redone from scratch."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from docstore.embedders import Embedder
from docstore.embedders.binding import embedder_for_indexing, record_embedder
from docstore.protocol import Store
from docstore.schema import DocumentInfo, FileFailure, Filters, Page, page_id
from docstore.word_boxes import encode_word_boxes
from indexer.discovery import Discovery, discover
from indexer.embedding import embed_in_workers
from indexer.ocr import find_ocr
from indexer.page_content import PageContent, PdfProbe
from indexer.page_language import PageLanguages
from indexer.progress import Progress
from indexer.sources import (
    MAX_TEXT_CHARS,
    FetchFailed,
    LocalCopy,
    Source,
    make_doc_id,
    read_text_document,
)
from indexer.summary import FailedPage, IndexOptions, IndexSummary, SkippedFile
from indexer.workers import PagePool, Task, TaskResult, WorkerPool, WorkerSettings

if TYPE_CHECKING:
    from indexer.ray_pool import RayPool


class RayUnavailable(ValueError):
    """--ray was given, but Ray is not installed or its cluster cannot be reached."""


@dataclass
class _Doc:
    info: DocumentInfo
    kind: str
    remaining: int  # pages neither written nor failed yet
    written: int = 0
    first_error: str = ""
    stamp: tuple[int, int] = (0, 0)  # the file's size and mtime (ns) before it was opened
    failed_before: bool = False  # a failure is recorded for an older version of the file
    copy: LocalCopy | None = None  # what the workers open, released when the document is done


# In bulk-load mode written pages are gathered into writes of up to LOAD_WRITE_PAGES pages or
# LOAD_WRITE_BYTES of page data (images, text, vectors), whichever comes first, which the store
# sends a few bulk requests at a time: on one OpenSearch node, 32-page writes with refresh off built
# one large k-NN graph a request at a time and ran slower than plain writes (BENCHMARKS.md, "Initial
# load"). A document is still finished only once all its pages are written.
LOAD_WRITE_PAGES = 2_000
LOAD_WRITE_BYTES = 32 << 20


def page_bytes(page: Page) -> int:
    """About how much memory a page to be written holds (what a load's write buffer is capped by)."""
    media = sum(len(b) for b in (page.image, page.thumbnail, page.word_boxes) if b is not None)
    return media + len(page.text) + 8 * len(page.embedding or ()) + 512


class Indexer:
    def __init__(self, store: Store, options: IndexOptions | None = None, embedder: Embedder | None = None):
        self.store = store
        self.options = options or IndexOptions()
        self.embedder = embedder or embedder_for_indexing(store, self.options.embedder)
        self.summary = IndexSummary(embedder=self.embedder.name)
        self._docs: dict[str, _Doc] = {}
        self._buffer: list[Page] = []
        self._unwritten: list[Page] = []  # bulk-load mode: embedded pages gathered for a big write
        self._unwritten_bytes = 0
        self._embedding: tuple[Future[npt.NDArray[np.float32]], list[Page]] | None = None
        self._tasks: deque[Task] = deque()
        self._next_id = 0
        self._ocr_note = False
        self._warm_up = False  # set per run: the embedder is still to be loaded in this process
        self._languages = PageLanguages({})
        self._doc_of_path: dict[str, str] = {}  # a task's path (a local copy) -> its document

    def run(self, paths: list[str | Path]) -> IndexSummary:
        start = time.monotonic()
        # Raises NoSuchPath or SourceUnavailable before anything is written.
        files = discover(paths, self.options.s3_endpoint)
        record_embedder(self.store, self.embedder)
        self._languages = PageLanguages(
            self.store.language_counts(Filters(collection=self.options.collection))
        )
        ocr = find_ocr() if self.options.ocr else None
        if self.options.ocr and ocr is None:
            self.summary.notes.append("OCR unavailable (install tesseract-ocr): scanned pages have no text")
        self.progress = Progress(quiet=self.options.quiet)
        # On a cluster the page work includes the embedding ("auto"), so the driver only coordinates.
        auto = "workers" if self.options.ray and self.options.embed_in == "auto" else self.options.embed_in
        in_workers = embed_in_workers(self.embedder, auto)
        settings = WorkerSettings(
            ocr=ocr,
            max_pixels=self.options.max_pixels,
            image_format=self.options.image_format,
            embedder=self.embedder.name if in_workers else None,
            embed_chars=self.options.embed_chars,
        )
        with (
            self.store.bulk_load() if self.options.bulk_load else nullcontext(),
            self._page_pool(settings) as pool,
            ThreadPoolExecutor(1, thread_name_prefix="folio-embed") as embed_pool,
        ):
            self._embed_pool = embed_pool
            self._warm_up = not in_workers
            try:
                self._loop(iter(files), pool)
                self._flush(wait=True)
                self._sweep(files)
            finally:
                self.progress.close()
                for doc in self._docs.values():  # an interrupted run's downloads
                    self._release(doc)
        self.summary.seconds = round(time.monotonic() - start, 3)
        return self.summary

    def _page_pool(self, settings: WorkerSettings) -> WorkerPool | RayPool:
        if not self.options.ray:
            return WorkerPool(self.options.workers, settings, self.options.page_timeout)
        try:
            from indexer.ray_pool import RayPool
        except ImportError as exc:
            raise RayUnavailable(f"--ray needs Ray: pip install 'folio-search[ray]' ({exc})") from None
        try:
            return RayPool(self.options.ray, settings, self.options.page_timeout)
        except ConnectionError as exc:
            raise RayUnavailable(f"no Ray cluster at {self.options.ray}: {exc}") from None

    def _loop(self, files: Iterator[Source], pool: PagePool) -> None:
        exhausted = False
        while True:
            # Pull files lazily: only enough queued work to keep every worker busy (bounded memory).
            while not exhausted and len(self._tasks) < 2 * pool.size:
                source = next(files, None)
                if source is None:
                    exhausted = True
                else:
                    self._start_file(source)
            while pool.idle and self._tasks:
                pool.submit(self._tasks.popleft())
            if exhausted and not self._tasks and not pool.busy:
                return
            for result in pool.poll(0.05):
                self._handle(result)
            if len(self._buffer) >= self.options.batch_size:
                self._flush()

    def _start_file(self, source: Source) -> None:
        collection, groups = self.options.collection, sorted(self.options.groups)
        doc_id = make_doc_id(collection, source.uri)
        old = self.store.get_document(doc_id)
        # A file that could not be opened has no document, only a failure record.
        failure = self.store.get_failure(doc_id) if old is None and source.kind == "pdf" else None
        try:
            stamp = source.stamp()
            if failure is not None and (failure.size, failure.mtime_ns) == (stamp.size, stamp.mtime_ns):
                self._skip(source, failure.reason, remembered=True)
                return
            digest = source.fingerprint()  # a local file's hash; an object's ETag, not downloaded
        except OSError as exc:
            self._skip(source, f"unreadable ({exc.strerror or exc})")
            return
        if old and old.complete and old.content_hash == digest and sorted(old.acl) == groups:
            self.summary.files_unchanged += 1
            return
        info = DocumentInfo(
            doc_id=doc_id, collection=collection, source=source.uri, content_hash=digest,
            page_count=1, pages_stored=0, complete=False, acl=groups,
        )  # fmt: skip
        try:
            copy = source.fetch(self.options.max_download_mb << 20)
        except FetchFailed as exc:
            self._skip(source, str(exc))
            return
        if source.kind == "text":
            try:
                self._start_text(source, copy, info, replace=old is not None)
            finally:
                copy.release()
        else:
            self._docs[doc_id] = _Doc(
                info=info, kind="pdf", remaining=-1, stamp=(stamp.size, stamp.mtime_ns),
                failed_before=failure is not None, copy=copy,
            )  # fmt: skip
            self._doc_of_path[str(copy.path)] = doc_id
            self._queue(Task(0, "probe", str(copy.path)))

    def _load_embedder(self) -> None:
        """Embedders load lazily: start loading this one (costly even for the default) with the run's
        first new or changed file, while this thread waits for the first worker to start (the
        load holds the GIL: later, it would stall the dispatching of pages). A run whose files
        are all unchanged never loads it."""
        if self._warm_up:
            self._warm_up = False
            self._embed_pool.submit(self.embedder.encode, ["warm up"])

    def _queue(self, task: Task) -> None:
        self._load_embedder()
        self._next_id += 1
        task.task_id = self._next_id
        self._tasks.append(task)

    def _start_text(self, source: Source, copy: LocalCopy, info: DocumentInfo, replace: bool) -> None:
        self._load_embedder()
        try:
            text_doc = read_text_document(copy.path)
        except OSError as exc:
            self._skip(source, f"unreadable ({exc.strerror or exc})")
            return
        info.title = text_doc.title
        if text_doc.truncated:
            note = f"{source.uri}: only its first {MAX_TEXT_CHARS:,} characters are indexed"
            self.summary.notes.append(note)
            self.progress.note(f"folio index: {note}")
        self._begin(info, replace, "text", pages=1)
        self._buffer.append(self._page(info, 1, kind="text", text=text_doc.text, language=text_doc.language))

    def _begin(
        self, info: DocumentInfo, replace: bool, kind: str, pages: int, copy: LocalCopy | None = None
    ) -> None:
        if replace:  # changed or interrupted earlier: its old pages go first
            self.store.delete_document(info.doc_id)
        info.page_count = pages
        self.store.begin_document(info)
        self._docs[info.doc_id] = _Doc(info=info, kind=kind, remaining=pages, copy=copy)
        self.progress.add_total(pages)

    def _handle(self, result: TaskResult) -> None:
        task = result.task
        doc_id = self._doc_of_path[task.path]
        doc = self._docs[doc_id]
        source = doc.info.source
        if task.kind == "probe":
            if result.error is not None or not isinstance(result.value, PdfProbe):
                del self._docs[doc_id]
                self._release(doc)
                # The file changed into something unreadable: its stale pages must not linger.
                if self.store.get_document(doc_id) is not None:
                    self.store.delete_document(doc_id)
                reason = result.error or "unreadable"
                if result.unreadable:  # not a timeout or crash, which another run may get past
                    size, mtime_ns = doc.stamp
                    failure = FileFailure(
                        doc_id=doc_id, source=source, size=size, mtime_ns=mtime_ns, reason=reason
                    )
                    self.store.record_failure(failure)
                self._skip_path(source, reason)
                return
            if doc.failed_before:
                self.store.clear_failure(doc_id)
            probe = result.value
            doc.info.title = probe.title
            replace = self.store.get_document(doc_id) is not None
            self._begin(doc.info, replace, "pdf", probe.page_count, doc.copy)
            for index in range(probe.page_count):
                self._queue(Task(0, "page", task.path, index, title=probe.title))
            return
        if result.error is not None or not isinstance(result.value, PageContent):
            self.summary.failed_pages.append(
                FailedPage(source=source, page_number=task.index + 1, reason=result.error or "no result")
            )
            doc.remaining -= 1
            doc.first_error = doc.first_error or (result.error or "")
            self.progress.advance(1)
            self._maybe_finish(doc)
            return
        content = result.value
        if result.node:
            nodes = self.summary.pages_per_node
            nodes[result.node] = nodes.get(result.node, 0) + 1
        if content.needs_ocr and not self._ocr_note:
            self._ocr_note = True
            self.progress.note("folio index: pages without a text layer are indexed without text (no OCR)")
        self._buffer.append(
            self._page(
                doc.info, content.page_number, kind="pdf", text=content.text, language=content.language,
                ocr=content.ocr, has_figures=content.has_figures, image=content.image, thumbnail=content.thumbnail,
                word_boxes=encode_word_boxes(content.word_boxes) if content.word_boxes else None,
                embedding=None if content.embedding is None else content.embedding.tolist(),
            )
        )  # fmt: skip

    def _page(self, info: DocumentInfo, number: int, language: str, **fields: object) -> Page:
        language = self._languages.resolve(info.doc_id, language)
        return Page(
            page_id=page_id(info.doc_id, number), doc_id=info.doc_id, collection=info.collection,
            source=info.source, content_hash=info.content_hash, page_number=number,
            page_count=info.page_count, title=info.title, acl=list(info.acl), language=language,
            **fields,  # type: ignore[arg-type]
        )  # fmt: skip

    def _flush(self, wait: bool = False) -> None:
        """Hand the buffered pages to the embedding thread; write the previous batch when its
        vectors are ready. At most one batch embeds while the next one fills (backpressure)."""
        if self._embedding is not None:
            future, pages = self._embedding
            vectors = future.result()
            self._embedding = None
            self._write(pages, vectors)
        if self._buffer:
            pages, self._buffer = self._buffer, []
            self._embedding = (self._embed_pool.submit(self._embed_missing, pages), pages)
            if wait:
                self._flush(wait=True)
        if wait and self._unwritten:
            self._store_unwritten()

    def _embed_missing(self, pages: list[Page]) -> npt.NDArray[np.float32]:
        """Vectors for the pages the workers did not embed (all of them in "parent" mode)."""
        todo = [p for p in pages if p.embedding is None]
        return self.embedder.encode([(p.text or p.title)[: self.options.embed_chars] for p in todo])

    def _write(self, pages: list[Page], vectors: npt.NDArray[np.float32]) -> None:
        for page, vector in zip([p for p in pages if p.embedding is None], vectors, strict=True):
            page.embedding = vector.tolist()
        if not self.options.bulk_load:
            self._store(pages)
            return
        self._unwritten.extend(pages)
        self._unwritten_bytes += sum(page_bytes(p) for p in pages)
        if len(self._unwritten) >= LOAD_WRITE_PAGES or self._unwritten_bytes >= LOAD_WRITE_BYTES:
            self._store_unwritten()

    def _store_unwritten(self) -> None:
        pages, self._unwritten, self._unwritten_bytes = self._unwritten, [], 0
        self._store(pages)

    def _store(self, pages: list[Page]) -> None:
        self.store.upsert_pages(pages)
        self.summary.pages_indexed += len(pages)
        for page in pages:
            doc = self._docs[page.doc_id]
            doc.remaining -= 1
            doc.written += 1
            self.progress.advance(1, page.source)
            self._maybe_finish(doc)

    def _maybe_finish(self, doc: _Doc) -> None:
        if doc.remaining == 0:
            self.store.finish_document(doc.info.doc_id)
            del self._docs[doc.info.doc_id]
            self._release(doc)
            self._languages.forget(doc.info.doc_id)
            if doc.written:
                self.summary.files_indexed += 1
            else:  # kept as complete so an unchanged file is not retried page by page every run
                self._skip_path(doc.info.source, f"no page could be read ({doc.first_error})")

    def _release(self, doc: _Doc) -> None:
        if doc.copy is not None:
            self._doc_of_path.pop(str(doc.copy.path), None)
            doc.copy.release()
            doc.copy = None

    def _sweep(self, files: Discovery) -> None:
        """Report the documents indexed from under this run's paths whose source is gone (all of
        them listed by now), and with --prune remove them. Files named one by one (as uploads are)
        cannot be gone: the store is not read then."""
        if not files.lists:
            return
        indexed = self.store.list_documents(Filters(collection=self.options.collection))
        gone = files.gone(indexed)
        self.summary.deleted = [d.source for d in gone]
        for doc in gone:
            if self.options.prune:
                self.store.delete_document(doc.doc_id)
                self.summary.pruned += 1
        if gone and not self.options.prune:
            self.progress.note(
                f"folio index: {len(gone)} indexed source(s) no longer exist (--prune removes them)"
            )

    def _skip(self, source: Source, reason: str, remembered: bool = False) -> None:
        self._skip_path(source.uri, reason, remembered)

    def _skip_path(self, path: str, reason: str, remembered: bool = False) -> None:
        skipped = SkippedFile(source=path, reason=reason, remembered=remembered)
        self.summary.skipped.append(skipped)
        self.progress.note(f"folio index: skipped {path}: {skipped.describe()}")


def index_paths(store: Store, paths: list[str | Path], options: IndexOptions | None = None) -> IndexSummary:
    return Indexer(store, options).run(paths)
