"""A SQLite store's shared state (docstore.shared_state), for the API servers on one machine that
use its file (`folio serve --workers N`, or several servers): keys in a keys file (`keys.db`
beside the store), the record tables in the store's table `shared_records` (JSON bodies; a
record's version goes up with each write, so a conditional write is one UPDATE that matches it,
and a create is an INSERT the primary key refuses when the record exists), and originals where
they were indexed from."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from docstore.key_file import KeyFile
from docstore.originals import FileOriginals
from docstore.shared_state import Record, RecordTable, SharedState

T = TypeVar("T")
_FIELD = re.compile(r"^[a-z_]+$")  # field names are put into a JSON path


class Transactions(Protocol):
    """What the records use of their store (docstore.sqlite.store.SqliteStore)."""

    def write(self, sql_fn: Callable[[sqlite3.Connection], T]) -> T: ...

    def read(self, sql_fn: Callable[[sqlite3.Connection], T], missing: T) -> T: ...


class TableRecords:
    def __init__(self, store: Transactions, table: RecordTable) -> None:
        self._store = store
        self._table = table

    def get(self, record_id: str) -> Record | None:
        def read(conn: sqlite3.Connection) -> Record | None:
            row = conn.execute(
                "SELECT body, version FROM shared_records WHERE tbl = ? AND id = ?", (self._table, record_id)
            ).fetchone()
            return None if row is None else Record(record_id, json.loads(row[0]), (int(row[1]),))

        return self._store.read(read, None)

    def put(
        self, record_id: str, body: dict[str, Any], *, expect: Record | None = None, create_only: bool = False
    ) -> bool:
        text = json.dumps(body)
        key = (self._table, record_id)
        if expect is not None:
            sql = "UPDATE shared_records SET body = ?, version = version + 1 WHERE tbl = ? AND id = ? AND version = ?"
            params: tuple[Any, ...] = (text, *key, expect.version[0])
        elif create_only:
            sql = "INSERT OR IGNORE INTO shared_records (tbl, id, body, version) VALUES (?, ?, ?, 1)"
            params = (*key, text)
        else:
            sql = (
                "INSERT INTO shared_records (tbl, id, body, version) VALUES (?, ?, ?, 1)"
                " ON CONFLICT (tbl, id) DO UPDATE SET body = excluded.body, version = version + 1"
            )
            params = (*key, text)
        return bool(self._store.write(lambda c: c.execute(sql, params).rowcount == 1))

    def delete(self, record_ids: Iterable[str]) -> None:
        rows = [(self._table, i) for i in record_ids]
        if rows:
            self._store.write(
                lambda c: c.executemany("DELETE FROM shared_records WHERE tbl = ? AND id = ?", rows)
            )

    def older_than(self, field: str, before: float, where: dict[str, list[str]] | None = None) -> list[str]:
        conditions = [f"json_extract(body, '$.{_checked(field)}') < ?"]
        params: list[Any] = [self._table, before]
        for name, values in (where or {}).items():
            conditions.append(f"json_extract(body, '$.{_checked(name)}') IN ({', '.join('?' * len(values))})")
            params.extend(values)
        sql = f"SELECT id FROM shared_records WHERE tbl = ? AND {' AND '.join(conditions)} LIMIT 1000"
        return self._store.read(lambda c: [str(r[0]) for r in c.execute(sql, params).fetchall()], [])


def _checked(field: str) -> str:
    if not _FIELD.match(field):
        raise ValueError(f"not a record field name: {field!r}")
    return field


def table_shared_state(store: Transactions, keys_file: Path) -> SharedState:
    return SharedState(KeyFile(keys_file), FileOriginals(), lambda table: TableRecords(store, table))
