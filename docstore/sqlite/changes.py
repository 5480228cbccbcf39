"""The page change log: every page row written or deleted, in order, in the same transaction as
the write. The side indices derived from the SQLite file (the BM25 index, the HNSW graph) each
remember the last entry they hold (their watermark) and catch up by re-reading the rowids
changed since: a row still in `pages` is (re)added, one gone is removed. That makes catching up
idempotent, so a process killed between the SQLite commit and a side index's commit loses
nothing: the next writer or searcher replays the entries after the side index's watermark."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

DDL = """
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, page_rowid INTEGER NOT NULL);
"""


def record(conn: sqlite3.Connection, rowids: Iterable[int]) -> None:
    """Log `rowids` as changed (inside the caller's write transaction)."""
    conn.executemany("INSERT INTO changes (page_rowid) VALUES (?)", [(r,) for r in rowids])


def store_id(conn: sqlite3.Connection) -> str:
    """The file's own id (meta `store_id`): a side index records it, and one built from another
    file, or from this one before it was replaced by a backup, is rebuilt."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    return str(row[0]) if row else ""


def latest(conn: sqlite3.Connection) -> int:
    """The newest entry's sequence number (0 for none): a side index at it is in step."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    return int(row[0]) if row else 0


def changed_since(conn: sqlite3.Connection, seq: int, upto: int) -> list[int]:
    """The distinct rowids changed after entry `seq` up to `upto`, in ascending order."""
    rows = conn.execute(
        "SELECT DISTINCT page_rowid FROM changes WHERE seq > ? AND seq <= ? ORDER BY page_rowid", (seq, upto)
    ).fetchall()
    return [int(r[0]) for r in rows]


def trim(conn: sqlite3.Connection, upto: int) -> None:
    """Forget the entries every side index has passed (inside a write transaction)."""
    conn.execute("DELETE FROM changes WHERE seq <= ?", (upto,))
