"""The kNN filter columns of every page, as integer codes in arrays indexed by SQLite rowid, so the
HNSW side index (docstore.sqlite.hnsw) can test a filter on any rowid without asking SQLite, and
update a page's codes in place when the change log says it changed.

Each of collection, doc_id and language is a code into its own vocabulary; the page's ACL list
is a code into the vocabulary of distinct ACL lists (few in practice), so a group filter is a
test against the set of ACL codes that name one of the groups, and the public pages are those
whose list is empty, as the `public` column says (`int(not page.acl)`). Vocabularies only grow:
a code whose pages are all gone matches nothing."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from docstore.schema import Filters

COLUMNS = ("collection", "doc_id", "language")
# SELECT list that `set_rows` expects, in this order (after the rowid)
SELECT = "p.rowid, p.collection, p.doc_id, p.language, p.acl"


@dataclass
class RowFilters:
    present: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    codes: dict[str, npt.NDArray[np.int32]] = field(
        default_factory=lambda: {name: np.zeros(0, dtype=np.int32) for name in (*COLUMNS, "acl")}
    )
    vocab: dict[str, dict[str, int]] = field(default_factory=lambda: {name: {} for name in (*COLUMNS, "acl")})
    acl_groups: list[frozenset[str]] = field(default_factory=list)  # acl code -> its groups

    @property
    def count(self) -> int:
        return int(self.present.sum())

    def _grow(self, top: int) -> None:
        size = self.present.size
        if top < size:
            return
        new = max(top + 1, size * 3 // 2, 1024)
        self.present = np.concatenate([self.present, np.zeros(new - size, dtype=bool)])
        for name, col in self.codes.items():
            self.codes[name] = np.concatenate([col, np.full(new - size, -1, dtype=np.int32)])

    def _code(self, name: str, value: str) -> int:
        words = self.vocab[name]
        code = words.get(value)
        if code is None:
            code = words[value] = len(words)
            if name == "acl":
                self.acl_groups.append(frozenset(json.loads(value)))
        return code

    def set_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Rows of `SELECT {SELECT}` for pages that are (or are again) present."""
        rows = list(rows)
        if not rows:
            return
        rowids = np.array([r[0] for r in rows], dtype=np.int64)
        self._grow(int(rowids.max()))
        for i, name in enumerate((*COLUMNS, "acl"), start=1):
            self.codes[name][rowids] = [self._code(name, r[i]) for r in rows]
        self.present[rowids] = True

    def remove(self, rowids: npt.NDArray[np.int64]) -> None:
        rowids = rowids[rowids < self.present.size]
        self.present[rowids] = False

    def selects_all(self, filters: Filters) -> bool:
        return all(getattr(filters, name) is None for name in (*COLUMNS, "groups"))

    def visible(self, filters: Filters, rowids: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.bool_]:
        """Whether each of `rowids` (every rowid when None) is a present page `filters` select."""
        inside = None if rowids is None else rowids < self.present.size
        if rowids is not None and inside is not None:
            rowids = np.where(inside, rowids, 0)

        def column(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return values if rowids is None else values[rowids]

        mask = column(self.present).copy()
        if inside is not None:
            mask &= inside
        for name in COLUMNS:
            wanted = getattr(filters, name)
            if wanted is not None:
                mask &= column(self.codes[name]) == self.vocab[name].get(wanted, -2)
        if filters.groups is not None:
            groups = set(filters.groups)
            allowed = [code for code, acl in enumerate(self.acl_groups) if not acl or acl & groups]
            mask &= np.isin(column(self.codes["acl"]), np.array(allowed, dtype=np.int32))
        return mask

    def keep_only(self, rowids: npt.NDArray[np.int64]) -> None:
        """Only `rowids` are present (the pages a loaded graph holds)."""
        if rowids.size:
            self._grow(int(rowids.max()))
        self.present[:] = False
        self.present[rowids] = True
