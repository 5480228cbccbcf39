"""Uploaded originals kept in an OpenSearch store: `{prefix}-originals` holds an upload's bytes as
1 MiB chunks, so every replica serves them and the upload folder holds a file only while it is
indexed; a document indexed from disk with `folio index` is served from its path where this
machine has it (FileOriginals). A stored original is served only while it matches the document's
content hash, and deleting a document deletes it (OpenSearchStore.delete_document)."""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docstore.opensearch.side_index import IndexHost, SideIndex
from docstore.originals import FileOriginals, Original
from docstore.schema import DocumentInfo
from docstore.shared_state import Record

CHUNK_BYTES = 1 << 20  # an upload of the largest allowed size is a few hundred of these

ORIGINALS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "doc_id": {"type": "keyword"},
        "kind": {"type": "keyword"},  # "file" (what the original is) or "chunk" (its bytes)
        "name": {"type": "keyword", "index": False},
        "content_hash": {"type": "keyword"},
        "size": {"type": "long"},
        "chunks": {"type": "integer"},
        "n": {"type": "integer"},
        "data": {"type": "binary"},  # base64, not searchable
        "stored_at": {"type": "double"},
    },
}


class IndexOriginals:
    def __init__(self, store: IndexHost) -> None:
        self._index = SideIndex(store, "originals", ORIGINALS_MAPPING)
        self._disk = FileOriginals()

    def keep(self, info: DocumentInfo, path: Path) -> bool:
        old = self._index.get(info.doc_id)
        if old is not None and old.source["content_hash"] == info.content_hash:
            return True  # re-uploaded unchanged
        # Chunks first, under ids of their content, then the record that points at them: a reader
        # sees the old original or the new one, never a mix.
        tag = info.content_hash[:16]
        size = path.stat().st_size
        count = self._write_chunks(info, tag, path)
        record = {
            "doc_id": info.doc_id, "kind": "file", "name": Path(info.source).name,
            "content_hash": info.content_hash, "size": size, "chunks": count, "stored_at": time.time(),
        }  # fmt: skip
        self._index.put(info.doc_id, record, refresh=True)
        if old is not None:
            self._index.delete(_chunk_ids(old))
        return True

    def _write_chunks(self, info: DocumentInfo, tag: str, path: Path) -> int:
        count = 0

        def records() -> Iterator[tuple[str, dict[str, Any]]]:
            nonlocal count
            with path.open("rb") as f:
                while True:
                    data = f.read(CHUNK_BYTES)
                    if not data and count:
                        return
                    body = {
                        "doc_id": info.doc_id, "kind": "chunk", "content_hash": info.content_hash,
                        "n": count, "data": base64.b64encode(data).decode("ascii"),
                    }  # fmt: skip
                    yield f"{info.doc_id}:{tag}:{count}", body
                    count += 1
                    if not data:  # an empty file is one empty chunk
                        return

        self._index.bulk_put(records(), batch=8)  # ~11 MB of base64 per request
        return count

    def open(self, info: DocumentInfo) -> Original | None:
        found = self._index.get(info.doc_id)
        if found is None or found.source["content_hash"] != info.content_hash:
            return self._disk.open(info)
        ids = _chunk_ids(found)
        # The first chunk is read now, so a store that fails is an error answer, not a cut-off download.
        first = self._chunk(ids[0])
        rest = (self._chunk(i) for i in ids[1:])
        return Original(name=str(found.source["name"]), size=int(found.source["size"]),
                        chunks=itertools.chain([first], rest))  # fmt: skip

    def available(self, info: DocumentInfo) -> bool:
        found = self._index.get(info.doc_id)
        if found is None or found.source["content_hash"] != info.content_hash:
            return self._disk.available(info)
        return True

    def _chunk(self, chunk_id: str) -> bytes:
        found = self._index.get(chunk_id)
        if found is None:  # replaced or deleted while it was being read
            raise FileNotFoundError(f"part {chunk_id} of an original is gone")
        return base64.b64decode(found.source["data"])


def _chunk_ids(found: Record) -> list[str]:
    tag = str(found.source["content_hash"])[:16]
    return [f"{found.id}:{tag}:{n}" for n in range(int(found.source["chunks"]))]
