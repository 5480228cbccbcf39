"""The embedded store's BM25 index: a tantivy index beside the SQLite file (`folio.db.bm25/`).

SQLite stays the source of truth; this index is derived from it. tantivy ranks with Lucene's
BM25 and skips postings that cannot enter the top k (block-max WAND), where FTS5 scored every
page holding a query word. Each page is one document: its SQLite rowid (the key, and a fast
field to map hits back), the exact and stemmed fields (docstore.sqlite.lexical_terms), and the
filter fields (collection, doc_id, language, ACL).

Keeping in step (docstore.sqlite.changes): the index's watermark, the last change-log entry it
holds, is written beside it after each tantivy commit. Whoever finds the index behind the log
(a writer after its write, a searcher before a search, any process) re-reads the rowids changed
since and replaces their documents, under a file lock so that one process catches up at a time.
Replaying an entry twice is harmless, so a process killed at any point loses nothing: the next
one replays from the watermark. A missing or unreadable index, or one of another format, is
rebuilt from the pages table."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cachetools
import tantivy

from docstore import analysis
from docstore.analysis import CJK_RUN, query_terms
from docstore.schema import Filters
from docstore.sqlite import changes
from docstore.sqlite.file_lock import file_lock
from docstore.sqlite.lexical_terms import bigrams, fold, page_fields
from docstore.sqlite.rows import filter_clause, placeholders

FORMAT = 1  # bump when the schema or the terms change: an index of another format is rebuilt
WATERMARK = "folio-watermark.json"
PUBLIC = 1
_CHUNK = 2_000  # pages read from SQLite and added per round while catching up
_HEAP = 128_000_000  # tantivy writer memory; a rebuild uses more (_REBUILD_HEAP)
_REBUILD_HEAP = 400_000_000
_REBUILD_NOTE_ROWS = 20_000
# filtered queries rank without the filter and drop the pages that fail it when at least this share
# of pages passes, ranking at most OVERFETCH_MAX deep (docstore.sqlite.lexical_index.search)
OVERFETCH_MIN_SHARE = 0.2
OVERFETCH_MAX = 5_000
TIE_DEPTH = 256  # how deep a tie across the k-th place is fetched to order it by rowid


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_unsigned_field("rowid", indexed=True, fast=True)
    b.add_text_field("exact", tokenizer_name="whitespace", index_option="position")
    b.add_text_field("stems", tokenizer_name="whitespace", index_option="freq")
    for name in ("collection", "doc_id", "language", "groups"):
        b.add_text_field(name, tokenizer_name="raw", index_option="basic")
    b.add_unsigned_field("public", indexed=True)
    return b.build()


SCHEMA = _schema()


@dataclass
class _Opened:
    index: tantivy.Index
    stamp: int  # the watermark file's mtime_ns then


class LexicalIndex:
    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".bm25")
        self._lock_path = db_path.with_name(db_path.name + ".bm25.lock")
        self._opened: _Opened | None = None
        self._id: str | None = None  # the SQLite file's store_id, read once
        self._shares: cachetools.LRUCache[tuple[object, ...], float] = cachetools.LRUCache(maxsize=256)
        self._mutex = threading.Lock()  # one catch-up per process at a time (the file lock is per process)

    # -- the watermark -------------------------------------------------------------------
    def _watermark_file(self, root: Path | None = None) -> Path:
        return (root or self.path) / WATERMARK

    def watermark(self, conn: sqlite3.Connection) -> int | None:
        """The change-log entry the index holds, or None when there is no usable index: none, one
        of another format, or one derived from another file (another store's, or this store's
        before a backup replaced it: its log never runs backwards)."""
        try:
            data = json.loads(self._watermark_file().read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        if data.get("store") != self._store_id(conn):
            return None
        seq = int(data.get("seq", 0))
        return None if seq > changes.latest(conn) else seq

    def _store_id(self, conn: sqlite3.Connection) -> str:
        if self._id is None:
            self._id = changes.store_id(conn)
        return self._id

    def _write_watermark(self, conn: sqlite3.Connection, seq: int, root: Path | None = None) -> None:
        target = self._watermark_file(root)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format": FORMAT, "store": self._store_id(conn), "seq": seq}))
        os.replace(tmp, target)

    # -- keeping in step ---------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, wait: bool) -> Iterator[bool]:
        with self._mutex if wait else _try(self._mutex) as held:
            if not held:
                yield False
                return
            with file_lock(self._lock_path, wait) as locked:
                yield locked

    def catch_up(self, conn: sqlite3.Connection, wait: bool = True) -> int | None:
        """Bring the index to the newest change-log entry; returns the watermark it is at. Without
        `wait`, a process that finds another one catching up leaves it to that one (None: no
        index yet)."""
        upto = changes.latest(conn)
        current = self.watermark(conn)
        if current is not None and current >= upto:
            return current
        with self._locked(wait) as held:
            if not held:
                return current  # another process is catching up: search what is committed
            current = self.watermark(conn)  # it may have done so while this one waited
            if current is None:
                self._rebuild(conn)
            elif current < upto:
                self._apply(conn, current, upto)
        return self.watermark(conn)

    def _apply(self, conn: sqlite3.Connection, since: int, upto: int) -> None:
        rowids = changes.changed_since(conn, since, upto)
        index = self._open()
        writer = index.writer(heap_size=_HEAP, num_threads=1)
        try:
            for start in range(0, len(rowids), _CHUNK):
                chunk = rowids[start : start + _CHUNK]
                for rowid in chunk:
                    writer.delete_documents_by_term("rowid", rowid)
                for doc in _documents(conn, "rowid IN (" + ",".join("?" * len(chunk)) + ")", chunk):
                    writer.add_document(doc)
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            with contextlib.suppress(Exception):
                writer.rollback()
            raise
        self._write_watermark(conn, upto)

    def _rebuild(self, conn: sqlite3.Connection) -> None:
        """A new index of every page, built beside the old one and then moved into its place."""
        # The log position first: pages written while the rebuild reads are replayed later.
        upto = changes.latest(conn)
        total = int(conn.execute("SELECT count(*) FROM pages").fetchone()[0])
        if total > _REBUILD_NOTE_ROWS:
            print(f"folio: building the BM25 index of {self.path.parent} ({total:,} pages)", file=sys.stderr)
        fresh = self.path.with_name(self.path.name + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        index = tantivy.Index(SCHEMA, path=str(fresh))
        writer = index.writer(heap_size=_REBUILD_HEAP, num_threads=min(2, os.cpu_count() or 1))
        last = 0
        while True:
            rows = _documents(conn, "rowid > ? ORDER BY rowid LIMIT ?", [last, _CHUNK], with_rowids=True)
            if not rows:
                break
            for _, doc in rows:
                writer.add_document(doc)
            last = rows[-1][0]
        writer.commit()
        writer.wait_merging_threads()
        self._write_watermark(conn, upto, fresh)
        self._opened = None
        old = self.path.with_name(self.path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            os.replace(self.path, old)
        os.replace(fresh, self.path)
        shutil.rmtree(old, ignore_errors=True)

    def _open(self) -> tantivy.Index:
        opened = self._opened
        if opened is None:
            index = tantivy.Index.open(str(self.path))
            opened = self._opened = _Opened(index, -1)
        return opened.index

    def _stamp(self) -> int:
        opened = self._opened
        return -1 if opened is None else opened.stamp

    def _reader(self) -> tantivy.Index:
        """The index, its reader reloaded when another commit has been published since."""
        opened = self._opened
        try:
            stamp = self._watermark_file().stat().st_mtime_ns
        except OSError:
            stamp = -1
        if opened is None or opened.stamp != stamp:
            index = self._open()
            index.reload()
            self._opened = _Opened(index, stamp)
            return index
        return opened.index

    # -- search --------------------------------------------------------------------------
    def search(
        self,
        conn: sqlite3.Connection,
        query: str,
        filters: Filters,
        k: int,
        languages: list[str],
        expansion: Mapping[str, float] | None = None,
    ) -> list[tuple[int, float]]:
        """(rowid, score) of the k best pages: BM25 on the exact field plus STEM_WEIGHT × BM25 on the
        stemmed field (a page with the exact form scores on both), best first; `expansion`'s stems
        (docstore.feedback) join on the stemmed field with their boosts."""
        if k <= 0:
            return []
        self.catch_up(conn)  # this process's own writes, and any other's, are searched
        searcher = self._reader().searcher()
        text_query = _text_query(searcher, query, languages, expansion or {})
        if text_query is None:
            return []
        filter_queries = _filter_queries(filters)
        if not filter_queries:
            return _ranked(searcher, text_query, k)
        # A query with filters would intersect the words' postings with the filter's, which takes
        # block-max WAND's pruning away. Where most pages pass (the usual ACL filter), rank without
        # the filter, deep enough for k to remain, and keep the pages that pass: when k do, they are
        # exactly the best k that pass. Else (a narrow filter, or too few passed), intersect.
        share = self._share(searcher, filters, filter_queries)
        if share >= OVERFETCH_MIN_SHARE:
            limit = min(int(k / share * 1.5) + 10, OVERFETCH_MAX)
            ranked = _ranked(searcher, text_query, limit)
            passing = _passing(conn, [r for r, _ in ranked], filters)
            kept = [hit for hit in ranked if hit[0] in passing]
            if len(kept) >= k or len(ranked) < limit:
                return kept[:k]
        clauses = [(tantivy.Occur.Must, text_query)]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(q, 0.0)) for q in filter_queries]
        return _ranked(searcher, tantivy.Query.boolean_query(clauses), k)

    def _share(self, searcher: tantivy.Searcher, filters: Filters, queries: list[tantivy.Query]) -> float:
        """The fraction of pages that pass `filters`, counted once per filter and index state."""
        groups = None if filters.groups is None else tuple(sorted(set(filters.groups)))
        key = (filters.collection, filters.doc_id, filters.language, groups, self._stamp())
        found = self._shares.get(key)
        if found is None:
            total = searcher.num_docs
            query = (
                queries[0]
                if len(queries) == 1
                else tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])
            )
            count = int(getattr(searcher.search(query, limit=1, count=True), "count", 0) or 0)
            found = self._shares[key] = count / total if total else 0.0
        return found

    def rowids(self, conn: sqlite3.Connection) -> list[int]:
        """Every document's rowid, caught up first (for checks: each page once, no other)."""
        self.catch_up(conn)
        searcher = self._reader().searcher()
        total = searcher.num_docs
        if total == 0:
            return []
        hits = searcher.search(tantivy.Query.all_query(), limit=total, count=False).hits
        return [int(r or 0) for r in searcher.fast_field_values("rowid", [a for _, a in hits])]

    def size_bytes(self) -> int:
        if not self.path.exists():
            return 0
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def close(self) -> None:
        self._opened = None


def _ranked(searcher: tantivy.Searcher, query: tantivy.Query, k: int) -> list[tuple[int, float]]:
    """(rowid, score) of the k best documents, best first, ties by rowid: tantivy breaks ties its
    own way, so a tie across the k-th place is fetched whole before the cut (up to TIE_DEPTH
    documents: past that, tantivy's order stands)."""
    limit = k + 1
    while True:
        hits = searcher.search(query, limit=limit, count=False).hits
        if len(hits) < limit or hits[-1][0] < hits[k - 1][0] or limit >= TIE_DEPTH:
            break
        limit = min(limit * 4, TIE_DEPTH)
    if not hits:
        return []
    rowids = searcher.fast_field_values("rowid", [address for _, address in hits])
    ranked = [(int(r or 0), float(score)) for (score, _), r in zip(hits, rowids, strict=True)]
    ranked.sort(key=lambda item: (-item[1], item[0]))
    return ranked[:k]


def _passing(conn: sqlite3.Connection, rowids: list[int], filters: Filters) -> set[int]:
    """Those of `rowids` whose pages pass `filters` (in SQLite, the source of truth)."""
    where, params = filter_clause(filters)
    found: set[int] = set()
    for start in range(0, len(rowids), 500):
        chunk = rowids[start : start + 500]
        rows = conn.execute(
            f"SELECT p.rowid FROM pages p WHERE p.rowid IN ({placeholders(chunk)}) AND {where}",
            [*chunk, *params],
        )
        found.update(int(r[0]) for r in rows)
    return found


@contextlib.contextmanager
def _try(lock: threading.Lock) -> Iterator[bool]:
    got = lock.acquire(blocking=False)
    try:
        yield got
    finally:
        if got:
            lock.release()


def _documents(conn: sqlite3.Connection, where: str, params: list[Any], with_rowids: bool = False) -> Any:
    rows = conn.execute(
        f"SELECT rowid, title, text, language, collection, doc_id, acl, public FROM pages WHERE {where}",
        params,
    ).fetchall()
    out = []
    for rowid, title, text, language, collection, doc_id, acl, public in rows:
        exact, stems = page_fields(title, text, language)
        doc = tantivy.Document()
        doc.add_unsigned("rowid", int(rowid))
        doc.add_text("exact", exact)
        doc.add_text("stems", stems)
        doc.add_text("collection", collection)
        doc.add_text("doc_id", doc_id)
        doc.add_text("language", language)
        for group in json.loads(acl):
            doc.add_text("groups", group)
        doc.add_unsigned("public", int(public))
        out.append((int(rowid), doc) if with_rowids else doc)
    return out


def _text_query(
    searcher: tantivy.Searcher, query: str, languages: list[str], expansion: Mapping[str, float]
) -> tantivy.Query | None:
    terms = query_terms(query, languages)
    total = searcher.num_docs
    should: list[tuple[tantivy.Occur, tantivy.Query]] = []
    for token in terms.exact:
        should.append((tantivy.Occur.Should, _exact_query(searcher, total, token)))
    weighted = [(stem, analysis.STEM_WEIGHT) for stem in terms.stems] + list(expansion.items())
    for stem, boost in weighted:
        term = fold(stem)
        q = tantivy.Query.term_query(SCHEMA, "stems", term, index_option="freq")
        weight = boost * _idf_ratio(total, searcher.doc_freq("stems", term))
        should.append((tantivy.Occur.Should, tantivy.Query.boost_query(q, weight)))
    if not should:
        return None
    return tantivy.Query.boolean_query(should)


def _idf_ratio(total: int, found: int) -> float:
    """The boost that turns tantivy's (Lucene's) BM25 IDF, ln(1 + (N - n + 0.5) / (n + 0.5)), into
    the IDF both stores rank with, ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6 (as in SQLite's
    FTS5 and the OpenSearch store's `folio_bm25` similarity): a word on most pages then weighs
    almost nothing, where Lucene's would still let a page that repeats it outrank one with a rare
    word (tests/contract/test_analysis_contract.py)."""
    if found <= 0 or total <= 0:
        return 1.0  # no page holds it: the term scores nothing either way
    odds = (total - found + 0.5) / (found + 0.5)
    return max(math.log(odds), 1e-6) / math.log1p(odds)


def _exact_query(searcher: tantivy.Searcher, total: int, token: str) -> tantivy.Query:
    if CJK_RUN.fullmatch(token):
        if len(token) == 1:  # a lone character: itself, or a bigram it starts
            return tantivy.Query.regex_query(SCHEMA, "exact", token + ".?")
        pairs = bigrams(token)
        if len(pairs) > 1:
            words: list[str | tuple[int, str]] = list(pairs)
            return tantivy.Query.phrase_query(SCHEMA, "exact", words)
        token = pairs[0]
    term = fold(token)
    q = tantivy.Query.term_query(SCHEMA, "exact", term)
    return tantivy.Query.boost_query(q, _idf_ratio(total, searcher.doc_freq("exact", term)))


def _filter_queries(filters: Filters) -> list[tantivy.Query]:
    out = []
    for name in ("collection", "doc_id", "language"):
        value = getattr(filters, name)
        if value is not None:
            out.append(tantivy.Query.term_query(SCHEMA, name, value, index_option="basic"))
    if filters.groups is not None:
        visible = [(tantivy.Occur.Should, tantivy.Query.term_query(SCHEMA, "public", PUBLIC))]
        if filters.groups:
            visible.append(
                (tantivy.Occur.Should, tantivy.Query.term_set_query(SCHEMA, "groups", list(filters.groups)))
            )
        out.append(tantivy.Query.boolean_query(visible))
    return out
