"""A page too short for its language to be detected is indexed in its document's, else its
collection's: pages indexed with none keep their words unstemmed and lose the stemmed field."""

from __future__ import annotations

from pathlib import Path

from docstore.schema import Filters
from docstore.sqlite.store import SqliteStore
from indexer.page_language import PageLanguages
from indexer.pipeline import Indexer
from indexer.summary import IndexOptions


def test_a_page_takes_its_documents_language_before_the_collections() -> None:
    languages = PageLanguages({"en": 40, "de": 3, "": 5})
    assert languages.resolve("doc", "") == "en"  # nothing from the document yet: the collection's
    assert languages.resolve("doc", "de") == "de"
    assert languages.resolve("doc", "") == "de"  # the document's own, though the collection is English
    languages.forget("doc")
    assert languages.resolve("other", "") == "en"


def test_no_language_anywhere_stays_none() -> None:
    assert PageLanguages({"": 7}).resolve("doc", "") == ""


def test_the_collection_counts_the_runs_pages_too() -> None:
    languages = PageLanguages({})
    assert languages.resolve("a", "") == ""
    languages.resolve("b", "fr")
    assert languages.resolve("c", "") == "fr"


def test_short_files_are_indexed_in_the_collections_language(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a-long.txt").write_text(
        "The catalogue of the library is a list of the books that are held in the collection.\n"
    )
    (corpus / "b-title.txt").write_text("Preliminary Report: Algebraic Languages\n")  # no stop words to tell
    store = SqliteStore(f"sqlite:///{tmp_path}/folio.db")
    options = IndexOptions(embedder="hash", workers=1, quiet=True, collection="reports")
    try:
        Indexer(store, options).run([corpus / "a-long.txt"])
        Indexer(store, options).run([corpus / "b-title.txt"])  # a later run: the language comes from the store
        assert store.language_counts(Filters(collection="reports")) == {"en": 2}
    finally:
        store.close()
