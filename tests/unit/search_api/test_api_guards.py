"""Pure pieces of the API: candidate modality, query image checks, the image URL guard, settings."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from fastapi import HTTPException
from PIL import Image

from docstore.candidates import choose_candidate
from docstore.schema import Page
from docstore.store import open_store
from reranker.images import ImageLimits
from search_api.query_image import image_limits, load_request_image
from search_api.settings import Settings


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


def _limits(max_bytes: int = 1 << 20, max_pixels: int = 1000, urls: bool = False) -> ImageLimits:
    return image_limits(Settings(max_query_image_pixels=max_pixels, allow_image_urls=urls)).model_copy(
        update={"max_bytes": max_bytes}
    )


def test_query_image_checks(tmp_path: Path) -> None:
    raw = _png((10, 10))
    data_url = "data:image/png;base64," + base64.b64encode(raw).decode()
    loaded, img = load_request_image(data_url, _limits())
    assert loaded == raw and img.size == (10, 10)
    assert load_request_image(raw, _limits())[0] == raw
    (tmp_path / "local.png").write_bytes(raw)
    cases: list[tuple[str | bytes, ImageLimits, int, str]] = [
        ("@@", _limits(), 400, "base64"),
        (b"", _limits(), 400, "empty"),
        (b"junk" * 10, _limits(), 400, "not a readable image"),
        (raw, _limits(max_bytes=10), 413, "over the limit"),
        # Base64 over the limit is refused from its length, before it is decoded (so never found invalid).
        ("A" * 4_000_000 + "@@", _limits(max_bytes=1 << 20), 413, "over the limit"),
        ("data:image/png;base64," + "A" * 4_000_000 + "@@", _limits(max_bytes=1 << 20), 413, "over the limit"),
        (_png((200, 200)), _limits(), 413, "too large"),
        (str(tmp_path / "local.png"), _limits(), 400, "base64"),  # a path on the server is never read
        ("https://example.com/a.png", _limits(), 400, "disabled"),
    ]
    for source, limits, status, words in cases:
        with pytest.raises(HTTPException) as info:
            load_request_image(source, limits)
        assert info.value.status_code == status and words in str(info.value.detail), (
            source,
            info.value.detail,
        )


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/x.png", "http://localhost:8080/x", "http://169.254.169.254/", "http://192.168.1.1/",
     "http://[::1]/", "http://0.0.0.0/", "ftp://example.com/x.png", "http:///nohost"],
)  # fmt: skip
def test_image_urls_to_private_or_odd_targets_are_refused(url: str) -> None:
    with pytest.raises(HTTPException) as info:
        load_request_image(url, _limits(urls=True))
    assert info.value.status_code == 400 and info.value.detail


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FOLIO_STORE", f"sqlite:///{tmp_path}/x/folio.db")
    monkeypatch.setenv("FOLIO_ANONYMOUS", "true")
    monkeypatch.setenv("FOLIO_CANDIDATE_MODALITY", "auto")
    settings = Settings()
    assert settings.anonymous and settings.candidate_modality == "auto" and settings.reranker == "none"
    assert open_store(settings.store).shared_state().keys.where == str(tmp_path / "x" / "keys.db")
    assert settings.cors_origins == [] and settings.allow_image_urls is False
    monkeypatch.setenv("FOLIO_CANDIDATE_MODALITY", "video")
    with pytest.raises(ValueError):
        Settings()


def test_search_bounds_are_the_schemas_on_every_entry_point(tmp_path: Path) -> None:
    """The JSON body and the multipart form of the API publish the bounds docstore.schema states."""
    from docstore.schema import MAX_OFFSET, MAX_TOP_K, MAX_TOP_N
    from search_api.app import create_app

    app = create_app(Settings(store=f"sqlite:///{tmp_path}/b.db", keys_file=tmp_path / "k.db"))
    schemas = app.openapi()["components"]["schemas"]
    form = next(s for name, s in schemas.items() if name.startswith("Body_search_image"))
    for props in (schemas["SearchBody"]["properties"], form["properties"]):
        assert props["top_k"]["maximum"] == MAX_TOP_K
        assert props["top_n"]["maximum"] == MAX_TOP_N
        assert props["offset"]["maximum"] == MAX_OFFSET
