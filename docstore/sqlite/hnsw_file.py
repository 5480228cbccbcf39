"""Where the HNSW side index of a SQLite store lives and how it is saved: `folio.db.hnsw` (the
usearch graph with its f16 vectors) and `folio.db.hnsw.json` (format, dims, the store's id and
the change-log entry the graph reflects: its watermark) beside the database, written to a temp
file and renamed, graph first. A crash between the two renames leaves a graph newer than its
watermark says, which catching up from the log repairs (replaying a change is idempotent); the
reverse could lose changes, so it never happens. A lock file keeps two processes from saving at
once. Both files are derived: deleting them costs a rebuild, never data."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docstore.sqlite.file_lock import file_lock

FORMAT = 1


@dataclass(frozen=True)
class HnswFiles:
    db: Path

    @property
    def graph(self) -> Path:
        return Path(f"{self.db}.hnsw")

    @property
    def meta(self) -> Path:
        return Path(f"{self.db}.hnsw.json")

    @property
    def lock(self) -> Path:
        return Path(f"{self.db}.hnsw.lock")

    def read_meta(self) -> dict[str, Any] | None:
        """The saved graph's description, None when there is none (or it cannot be read)."""
        try:
            meta = json.loads(self.meta.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or not self.graph.exists():
            return None
        return meta

    def size(self) -> int:
        """Bytes on disk (0 when not built)."""
        return sum(p.stat().st_size for p in (self.graph, self.meta) if p.exists())

    @contextmanager
    def saving(self) -> Iterator[bool]:
        """Holds the save lock if no other process does (yields False then: skip this save)."""
        with file_lock(self.lock, wait=False) as held:
            yield held

    def replace(self, write_graph: Any, meta: dict[str, Any]) -> None:
        """Write the graph with `write_graph(path)`, then its meta, each to a temp file renamed
        into place (call inside `saving`)."""
        tmp_graph = Path(f"{self.graph}.tmp-{os.getpid()}")
        tmp_meta = Path(f"{self.meta}.tmp-{os.getpid()}")
        try:
            write_graph(tmp_graph)
            _fsync(tmp_graph)
            os.replace(tmp_graph, self.graph)
            tmp_meta.write_text(json.dumps({**meta, "format": FORMAT}))
            _fsync(tmp_meta)
            os.replace(tmp_meta, self.meta)
            _fsync(self.db.parent)
        finally:
            tmp_graph.unlink(missing_ok=True)
            tmp_meta.unlink(missing_ok=True)


def persisted_watermark(db: Path) -> int | None:
    """The change-log entry the saved HNSW graph of the store at `db` reflects; None when there is
    no saved graph (then it needs no entries kept: a missing graph is rebuilt from the tables)."""
    meta = HnswFiles(db).read_meta()
    return None if meta is None else int(meta["watermark"])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
