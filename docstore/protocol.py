"""The one `Store` protocol both backends implement, and the error they raise when unreachable.
Backends import this module; `docstore.store.open_store` imports the backends (no circle)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from docstore.schema import DocumentInfo, FileFailure, Filters, Hit, Page, SearchRequest
from docstore.shared_state import SharedState


class StoreUnavailable(RuntimeError):
    """The store cannot be reached (OpenSearch down, SQLite file unreadable)."""


@runtime_checkable
class Store(Protocol):
    """Constructors never touch the network or disk; the first call connects (lazy)."""

    url: str

    def ensure(self, dim: int) -> None:
        """Create indices / tables for embeddings of size `dim` if missing."""

    def ping(self) -> bool: ...

    def exists(self) -> bool:
        """Whether anything was ever written here (the SQLite file, the pages or documents index).
        Never creates the store."""

    def upsert_pages(self, pages: Sequence[Page]) -> None:
        """Write pages by page_id (a re-write replaces, never duplicates)."""

    def bulk_load(self) -> AbstractContextManager[None]:
        """A first load of many pages (`folio index --bulk-load`): inside the block the backend may
        trade what searches see for write speed (OpenSearch: the loaded pages show only when the
        block ends, and its indices keep no replica until then); everything is back as before when
        the block ends, however it ends."""

    def begin_document(self, info: DocumentInfo) -> None:
        """Record a document as being indexed (complete=False) before its pages are written."""

    def finish_document(self, doc_id: str) -> None:
        """Mark a document complete once all its pages are written."""

    def get_document(self, doc_id: str) -> DocumentInfo | None: ...

    def list_documents(self, filters: Filters | None = None) -> list[DocumentInfo]: ...

    def delete_document(self, doc_id: str) -> int:
        """Delete a document and its pages; returns the number of pages removed."""

    def get_page(self, page_id: str, groups: list[str] | None = None) -> Page | None:
        """The page with image, thumbnail and word boxes, or None if missing or not visible to `groups`."""

    def get_image(
        self, page_id: str, kind: Literal["image", "thumbnail"] = "image", groups: list[str] | None = None
    ) -> bytes | None: ...

    def get_pages(self, page_ids: Sequence[str], groups: list[str] | None = None) -> list[Page]:
        """The pages of `page_ids` that exist and `groups` may see, in the order asked (each once),
        as hits carry them (no image, thumbnail, word boxes or embedding); one read for all."""

    def get_images(
        self,
        page_ids: Sequence[str],
        kind: Literal["image", "thumbnail"] = "image",
        groups: list[str] | None = None,
    ) -> dict[str, bytes]:
        """The stored images of `kind` by page_id, for the pages of `page_ids` that have one and
        `groups` may see; one read for all."""

    def get_word_boxes(self, page_ids: Sequence[str], groups: list[str] | None = None) -> dict[str, bytes]:
        """The stored word boxes (`Page.word_boxes`) by page_id, for the pages of `page_ids` that
        have them and `groups` may see; one read for all, nothing else of the page."""

    def search(self, request: SearchRequest) -> list[Hit]: ...

    def count(self, filters: Filters | None = None) -> int: ...

    def language_counts(self, filters: Filters | None = None) -> dict[str, int]:
        """Pages per detected language ("" for none) among the pages `filters` select."""

    def get_meta(self, key: str) -> str | None:
        """A store-wide setting (`embedder` and `dim` are read and written only through
        docstore.embedders.binding); None when unset or the store does not exist yet."""

    def set_meta(self, key: str, value: str) -> None: ...

    def get_failure(self, doc_id: str) -> FileFailure | None:
        """The failure remembered for a document's file, None if none."""

    def record_failure(self, failure: FileFailure) -> None:
        """Remember why a file could not be indexed (replaces the record for its doc_id)."""

    def clear_failure(self, doc_id: str) -> None:
        """Forget a document's failure; nothing happens when none is recorded."""

    def shared_state(self, keys_file: Path | None = None) -> SharedState:
        """What API servers on this store share through it (keys, upload jobs, uploaded originals),
        where this backend keeps them (docstore.shared_state); keys in `keys_file` when given.
        Opens nothing until used; the caller closes its `keys`."""

    def storage(self) -> dict[str, int]:
        """Bytes on disk by part (SQLite: the file and each side index beside it; OpenSearch: each
        index's primary store), for `folio status`."""
        ...

    def close(self) -> None: ...
