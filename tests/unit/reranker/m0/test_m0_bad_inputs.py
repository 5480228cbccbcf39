"""Bad inputs fail per candidate with a clear message while the other candidates still score
(and score exactly as they would alone); every accepted image form gives the same score."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from reranker.errors import CandidateError
from reranker.types import ImageInput
from tests.unit.reranker.m0.conftest import png_bytes, serve_folder

PAGE = png_bytes(112, 140, seed=30)


def huge_png_header(width: int = 8000, height: int = 6250) -> bytes:
    """A PNG whose header claims width x height (50 MP) with almost no pixel data: only a reader that
    checks the header before decoding rejects it cheaply."""
    raw = png_bytes(4, 4, seed=0)
    ihdr = struct.pack(">II", width, height) + raw[24:29]
    chunk = b"IHDR" + ihdr
    return raw[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + raw[33:]


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server for PAGE as /page.png."""
    (tmp_path / "page.png").write_bytes(PAGE)
    with serve_folder(tmp_path) as url:
        yield url

def test_bad_candidates_fail_alone(m0) -> None:
    good = ["a fine text", ImageInput(PAGE)]
    bad = {
        "corrupt": ImageInput(b"\x89PNG\r\n\x1a\n not really a png"),
        "empty": "   ",
        "huge": ImageInput(huge_png_header()),
        "url-off": ImageInput("https://example.com/page.png"),
        "nonsense": ImageInput("not a path, url or base64 !!"),
    }
    docs = [good[0], *bad.values(), good[1]]
    scores = m0.score_pairs([("query", d) for d in docs]).scores
    alone = m0.score_pairs([("query", d) for d in good]).scores
    assert scores[0] == pytest.approx(alone[0], abs=1e-5)
    assert scores[-1] == pytest.approx(alone[1], abs=1e-5)
    errors = dict(zip(bad, scores[1:-1], strict=True))
    assert all(isinstance(e, CandidateError) for e in errors.values())
    assert "corrupt" in str(errors["corrupt"]) or "not a readable image" in str(errors["corrupt"])
    assert "empty" in str(errors["empty"])
    assert "50.0 MP exceeds the limit" in str(errors["huge"])
    assert "disabled" in str(errors["url-off"])
    assert "neither an existing file" in str(errors["nonsense"])


def test_bad_query_fails_its_pairs_only(m0) -> None:
    scores = m0.score_pairs([("", "doc"), ("fine query", "doc"), (ImageInput(b"junk"), "doc")]).scores
    assert isinstance(scores[0], CandidateError) and "query" in str(scores[0])
    assert isinstance(scores[1], float)
    assert isinstance(scores[2], CandidateError) and "query" in str(scores[2])


def test_every_image_form_scores_the_same(m0, tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    path.write_bytes(PAGE)
    b64 = base64.b64encode(PAGE).decode()
    forms = [PAGE, path, str(path), b64, "data:image/png;base64," + b64, Image.open(path)]
    scores = m0.score_pairs([("query", ImageInput(f)) for f in forms]).scores
    assert all(isinstance(s, float) for s in scores)
    assert max(scores) - min(scores) <= 1e-5  # type: ignore[operator]


def _reranker(tiny_m0_dir: Path, **kw):
    from reranker.m0.reranker import M0Reranker

    return M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", max_length=2048, allow_urls=True, **kw)


def test_urls_loopback_blocked_unreachable_and_served(tiny_m0_dir: Path, image_server: str, m0) -> None:
    public = _reranker(tiny_m0_dir)
    trusting = _reranker(tiny_m0_dir, allow_private_urls=True)
    try:
        loopback, unresolvable = public.score_pairs(
            [("q", ImageInput(f"{image_server}/page.png")), ("q", ImageInput("http://no-such-host.invalid/p.png"))]
        ).scores
        assert isinstance(loopback, CandidateError) and "blocked" in str(loopback)
        assert isinstance(unresolvable, CandidateError) and "unreachable" in str(unresolvable)
        served, missing, refused = trusting.score_pairs(
            [
                ("q", ImageInput(f"{image_server}/page.png")),
                ("q", ImageInput(f"{image_server}/absent.png")),
                ("q", ImageInput("http://127.0.0.1:9/page.png")),
            ]
        ).scores
        assert served == pytest.approx(m0.score_pairs([("q", ImageInput(PAGE))]).scores[0], abs=1e-5)
        assert isinstance(missing, CandidateError) and "HTTP 404" in str(missing)
        assert isinstance(refused, CandidateError) and "unreachable" in str(refused)
    finally:
        public.close()
        trusting.close()
