"""Page references for a rerank server opened on a store (`folio rerank-server --store URL`): a text
document `folio-page:<page_id>` becomes that page as the search API would score it (its page image,
or its text, by the same candidate-modality rule and the same read, `docstore.candidates.page_candidates`),
read from the store for all the references of a request at once. The one place in the reranker that
reads the store, so clients that can send documents only as strings (OpenSearch's rerank processor)
still have PDF pages scored as images. `rerank_input` is what a page becomes for the reranker, here
and in the search API."""

from __future__ import annotations

from collections.abc import Sequence

from docstore.candidates import ModalitySetting, PageCandidate, page_candidates, ref_page_id
from docstore.protocol import Store, StoreUnavailable
from docstore.store import open_store
from reranker.errors import BackendFailed, CandidateError
from reranker.types import Candidate, ImageInput, TextInput


class PageRefResolver:
    """Called with a request's documents; answers them in order, each reference replaced by its
    page or by the CandidateError saying it names no page. Every page of the store resolves (a
    server's API key, when it has one, is what admits a caller)."""

    def __init__(self, store: Store, modality: ModalitySetting) -> None:
        self.store = store
        self.modality = modality

    def __call__(self, documents: Sequence[Candidate]) -> list[Candidate | CandidateError]:
        refs = {i: pid for i, doc in enumerate(documents) if (pid := _page_id(doc)) is not None}
        resolved: list[Candidate | CandidateError] = list(documents)
        if not refs:
            return resolved
        try:
            pages = self.store.get_pages(list(refs.values()))
            found = {c.page.page_id: c for c in page_candidates(self.store, pages, self.modality)}
        except StoreUnavailable as exc:
            raise BackendFailed(f"the page store is unavailable: {exc}") from exc
        for i, pid in refs.items():
            candidate = found.get(pid)
            resolved[i] = (
                rerank_input(candidate) if candidate else CandidateError(f"no page {pid!r} in the store")
            )
        return resolved

    def close(self) -> None:
        self.store.close()


def rerank_input(candidate: PageCandidate) -> ImageInput | TextInput:
    """What the reranker is given for a page: the search API's candidates and resolved references alike."""
    if isinstance(candidate.content, bytes):
        return ImageInput(candidate.content)
    return TextInput(candidate.content)


def check_store_url(url: str) -> str:
    """`url` when a store can be opened from it, else ValueError (stores parse their URL when
    constructed and touch nothing)."""
    open_store(url).close()
    return url


def open_page_refs(store_url: str, modality: ModalitySetting) -> PageRefResolver:
    """A resolver on the store at `store_url` (opened lazily: nothing is read until a reference comes)."""
    return PageRefResolver(open_store(store_url), modality)


def _page_id(document: Candidate) -> str | None:
    if isinstance(document, str):
        return ref_page_id(document)
    if isinstance(document, TextInput):
        return ref_page_id(document.text)
    return None
