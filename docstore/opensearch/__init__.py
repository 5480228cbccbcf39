"""The OpenSearch store: pure request builders (`queries`), the search shell, records and the store."""
