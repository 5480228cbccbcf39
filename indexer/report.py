"""Human-readable output of `folio index` and `folio status`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from docstore.embedders.binding import recorded_dim, recorded_embedder
from docstore.protocol import Store
from indexer.summary import IndexSummary


def print_summary(summary: IndexSummary) -> None:
    rate = summary.pages_indexed / summary.seconds if summary.seconds else 0.0
    rows = [
        ("files indexed", summary.files_indexed),
        ("files unchanged", summary.files_unchanged),
        ("files skipped", len(summary.skipped)),
        ("pages indexed", summary.pages_indexed),
        ("pages failed", len(summary.failed_pages)),
        ("seconds", f"{summary.seconds:.1f} ({rate:.1f} pages/s)"),
        ("embedder", summary.embedder),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if summary.skipped:
        print("\nskipped:")
        for s in summary.skipped:
            print(f"  {s.source}: {s.describe()}")
    if summary.failed_pages:
        print("\nfailed pages:")
        for f in summary.failed_pages:
            print(f"  {f.source} page {f.page_number}: {f.reason}")
    for note in summary.notes:
        print(f"\nnote: {note}")


def store_status(store: Store) -> dict[str, Any]:
    docs = store.list_documents()
    collections = Counter(d.collection for d in docs)
    return {
        "store": store.url,
        "documents": len(docs),
        "pages": store.count(),
        "incomplete_documents": [d.source for d in docs if not d.complete],
        "collections": dict(sorted(collections.items())),
        "embedder": recorded_embedder(store),
        "dim": recorded_dim(store) or 0,
        "side_indices": store.side_indices(),
    }


def print_status(status: dict[str, Any]) -> None:
    print(f"store        {status['store']}")
    print(f"documents    {status['documents']}")
    print(f"pages        {status['pages']}")
    print(f"incomplete   {len(status['incomplete_documents'])}")
    for source in status["incomplete_documents"]:
        print(f"  {source} (re-run folio index to finish it)")
    print(f"embedder     {status['embedder'] or '-'}" + (f" ({status['dim']} dims)" if status["dim"] else ""))
    for path, size in status["side_indices"].items():
        print(f"side index   {path} ({size / 1e6:.1f} MB, derived: rebuilt when missing)")
    print("collections")
    for name, n in status["collections"].items():
        print(f"  {name}: {n} document(s)")
