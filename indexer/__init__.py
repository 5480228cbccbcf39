"""Folio's indexer: PDF and text files into pages (render, text, OCR), and the ingest pipeline."""
