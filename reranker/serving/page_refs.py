"""Page references for a rerank server opened on a store (`folio rerank-server --store URL`): a text
document `folio-page:<page_id>` becomes that page as the search API would score it (its page image,
or its text, by the same candidate-modality rule), read from the store in one call for all the
references of a request. The one place in the reranker that reads the store, so clients that can
send documents only as strings (OpenSearch's rerank processor) still have PDF pages scored as
images."""

from __future__ import annotations

from collections.abc import Sequence

from docstore.candidates import ModalitySetting, candidate_text, choose_candidate, ref_page_id
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
            pages = {p.page_id: p for p in self.store.get_pages(list(refs.values()))}
            as_image = [pid for pid, p in pages.items() if choose_candidate(p, self.modality) == "image"]
            images = self.store.get_images(as_image) if as_image else {}
        except StoreUnavailable as exc:
            raise BackendFailed(f"the page store is unavailable: {exc}") from exc
        for i, pid in refs.items():
            page = pages.get(pid)
            if page is None:
                resolved[i] = CandidateError(f"no page {pid!r} in the store")
            elif (image := images.get(pid)) is not None:
                resolved[i] = ImageInput(image)
            else:  # a text page, or a PDF page scored as text or without a stored image
                resolved[i] = TextInput(candidate_text(page))
        return resolved

    def close(self) -> None:
        self.store.close()


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
