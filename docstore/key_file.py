"""API key records in a SQLite file of their own (`keys.db` beside a SQLite store, or the file a
server is given): the table `api_keys`, read on every request. Thread-safe; the file is created on
first use, not in the constructor."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from docstore.shared_state import KeyRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    groups TEXT NOT NULL DEFAULT '',
    admin INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""
_COLUMNS = "key_id, key_hash, name, groups, admin, created_at, revoked_at"


class KeyFile:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def remote(self) -> bool:
        return False

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute(_SCHEMA)
            conn.commit()
            self._conn = conn
        return self._conn

    def add(self, record: KeyRecord) -> bool:
        values = (
            record.key_id, record.key_hash, record.name, ",".join(record.groups), int(record.admin),
            record.created_at, record.revoked_at,
        )  # fmt: skip
        with self._lock:
            db = self._db()
            try:
                db.execute(f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)", values)
            except sqlite3.IntegrityError:  # the id (or, never in practice, the hash) is taken
                return False
            finally:
                db.commit()
        return True

    def get(self, key_id: str) -> KeyRecord | None:
        with self._lock:
            row = (
                self._db().execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            )
        return None if row is None else _record(row)

    def all(self) -> list[KeyRecord]:
        with self._lock:
            rows = self._db().execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at").fetchall()
        return [_record(r) for r in rows]

    def revoke(self, key_id: str, at: float) -> bool:
        with self._lock:
            db = self._db()
            cur = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (at, key_id)
            )
            db.commit()
        return cur.rowcount > 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _record(row: tuple[str, str, str, str, int, float, float | None]) -> KeyRecord:
    groups = tuple(g for g in row[3].split(",") if g)
    return KeyRecord(
        key_id=row[0], key_hash=row[1], name=row[2], groups=groups, admin=bool(row[4]),
        created_at=row[5], revoked_at=row[6],
    )  # fmt: skip
