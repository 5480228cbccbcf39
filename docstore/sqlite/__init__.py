"""The embedded store: one SQLite file, FTS5 for BM25, float32 vectors (with an int8 copy) beside it."""
