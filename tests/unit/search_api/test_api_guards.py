"""Pure pieces of the API: candidate modality, query image checks, the image URL guard, settings."""

from __future__ import annotations

import base64
import io

import pytest
from fastapi import HTTPException
from PIL import Image

from docstore.schema import Page
from search_api.candidates import choose_candidate
from search_api.query_image import check_image, decode_base64_image
from search_api.settings import Settings
from search_api.url_images import fetch_image_url


def _page(**fields: object) -> Page:
    base: dict[str, object] = {"page_id": "d:1", "doc_id": "d", "source": "s.pdf", "content_hash": "h",
                               "page_number": 1, "page_count": 1, "text": "some words"}  # fmt: skip
    return Page(**{**base, **fields})  # type: ignore[arg-type]


def test_candidate_modality() -> None:
    assert choose_candidate(_page(kind="text"), "image") == "text"
    assert choose_candidate(_page(), "image") == "image"
    assert choose_candidate(_page(), "text") == "text"
    assert choose_candidate(_page(text=""), "text") == "image"  # nothing to score as text
    assert choose_candidate(_page(), "auto") == "text"
    assert choose_candidate(_page(has_figures=True), "auto") == "image"
    assert choose_candidate(_page(ocr=True), "auto") == "image"
    assert choose_candidate(_page(text="  "), "auto") == "image"


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("1", size).save(buf, format="PNG")
    return buf.getvalue()


def test_query_image_checks() -> None:
    raw = _png((10, 10))
    assert decode_base64_image("data:image/png;base64," + base64.b64encode(raw).decode()) == raw
    assert check_image(raw, 1 << 20, 1000).size == (10, 10)
    for bad, status in [(lambda: decode_base64_image("@@"), 400), (lambda: check_image(b"", 10, 10), 400),
                        (lambda: check_image(b"junk" * 10, 1 << 20, 100), 400),
                        (lambda: check_image(raw, 10, 10**6), 413), (lambda: check_image(_png((200, 200)), 1 << 20, 1000), 413)]:  # fmt: skip
        with pytest.raises(HTTPException) as info:
            bad()
        assert info.value.status_code == status and info.value.detail


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/x.png", "http://localhost:8080/x", "http://169.254.169.254/", "http://192.168.1.1/",
     "http://[::1]/", "http://0.0.0.0/", "ftp://example.com/x.png", "http:///nohost"],
)  # fmt: skip
def test_image_urls_to_private_or_odd_targets_are_refused(url: str) -> None:
    with pytest.raises(HTTPException) as info:
        fetch_image_url(url, 1 << 20, 1.0)
    assert info.value.status_code == 400


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FOLIO_STORE", f"sqlite:///{tmp_path}/x/folio.db")
    monkeypatch.setenv("FOLIO_ANONYMOUS", "true")
    monkeypatch.setenv("FOLIO_CANDIDATE_MODALITY", "auto")
    settings = Settings()
    assert settings.anonymous and settings.candidate_modality == "auto" and settings.reranker == "none"
    assert settings.resolved_keys_file() == tmp_path / "x" / "keys.db"
    assert settings.cors_origins == [] and settings.allow_image_urls is False
    monkeypatch.setenv("FOLIO_CANDIDATE_MODALITY", "video")
    with pytest.raises(ValueError):
        Settings()
