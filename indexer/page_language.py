"""The language a page is indexed in when its own text is too short to tell (a title, a caption,
a near-empty page): its document's most common language so far, else its collection's (the pages
already in the store and those of this run), else none. Each page's stemmed field is made in its
language (docstore.analysis), and a page left with none keeps its words unstemmed: it then
matches only on the exact field, below pages stemmed properly."""

from __future__ import annotations

from collections import Counter


class PageLanguages:
    def __init__(self, collection_counts: dict[str, int]) -> None:
        self._collection = Counter({lang: n for lang, n in collection_counts.items() if lang})
        self._documents: dict[str, Counter[str]] = {}

    def resolve(self, doc_id: str, detected: str) -> str:
        """The language to index a page of `doc_id` in, counting a detected one."""
        document = self._documents.setdefault(doc_id, Counter())
        if detected:
            document[detected] += 1
            self._collection[detected] += 1
            return detected
        for counts in (document, self._collection):
            if counts:
                return counts.most_common(1)[0][0]
        return ""

    def forget(self, doc_id: str) -> None:
        """The document is finished: its own counts are no longer needed."""
        self._documents.pop(doc_id, None)
