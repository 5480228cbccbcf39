"""`folio rerank` and `folio rerank-server` as a user runs them (subprocesses), with the tiny m0
checkpoint; and their clear errors for a missing model folder, no torch, and no candidates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from docstore.candidates import page_ref
from reranker.types import ImageInput, TextInput
from tests.fixtures.api_server import ServerStartError, free_port, wait_until_healthy
from tests.integration.page_refs_store import NOTE, fill

REPO = Path(__file__).resolve().parents[2]


def folio(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "search_api.main", *args],
        cwd=REPO, capture_output=True, text=True, timeout=240, **kw,
    )


def folio_here(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same command in this process (torch is already imported here, which saves a lot)."""
    from search_api.main import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("imgs")
    out = {}
    for name, color in (("red", "red"), ("blue", "blue")):
        out[name] = d / f"{name}.png"
        Image.new("RGB", (56, 56), color).save(out[name])
    return out


@pytest.fixture(scope="module")
def model(tiny_m0_dir: Path) -> Any:
    from reranker.m0.reranker import M0Reranker

    m = M0Reranker.from_pretrained(str(tiny_m0_dir), device="cpu", dtype="float32")
    yield m
    m.close()


def test_missing_model_folder_says_how_to_get_one(tmp_path: Path) -> None:
    r = folio("rerank", "--model", str(tmp_path / "nope"), "--query", "q", "--doc", "a")
    assert r.returncode == 2
    assert "not found" in r.stderr and "huggingface-cli download jinaai/jina-reranker-m0" in r.stderr
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "config.json").write_text("{}")
    r = folio("rerank-server", "--model", str(tmp_path / "partial"))
    assert r.returncode == 2 and "incomplete (missing *.safetensors)" in r.stderr
    r = folio("rerank-server", "--model", str(tmp_path / "partial"), "--store", "mysql://db/pages")
    assert r.returncode == 2 and "unsupported store URL 'mysql://db/pages'" in r.stderr
    # the search API says the same, without a traceback
    r = folio("serve", "--store", f"sqlite:///{tmp_path}/s.db", "--reranker", f"local:{tmp_path / 'nope'}")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not found" in r.stderr and "huggingface-cli download jinaai/jina-reranker-m0" in r.stderr
    env = {k: v for k, v in os.environ.items() if k != "JINA_API_KEY"}
    r = folio("serve", "--store", f"sqlite:///{tmp_path}/s.db", "--reranker", "jina", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "JINA_API_KEY" in r.stderr


def test_no_torch_says_which_extra_to_install(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    code = (
        "import sys; sys.modules['torch'] = None\n"  # makes `import torch` fail as if not installed
        "from search_api.main import main\n"
        f"sys.exit(main(['rerank', '--model', {str(tmp_path)!r}, '--query', 'q', '--doc', 'a']))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "pip install 'folio-search[rerank]'" in r.stderr and "Traceback" not in r.stderr


def test_candidates_are_required(tiny_m0_dir: Path, images: dict[str, Path], capsys) -> None:
    code, _, err = folio_here(capsys, "rerank", "--model", str(tiny_m0_dir), "--query", "q")
    assert code == 2 and "at least one candidate" in err
    missing = str(images["red"]) + ".missing"
    code, _, err = folio_here(capsys, "rerank", "--model", str(tiny_m0_dir), "--query", "q", "--doc-image", missing)
    assert code == 2 and "no such file" in err


def test_json_output_indexes_docs_before_images(tiny_m0_dir: Path, images: dict[str, Path], model: Any, capsys) -> None:
    docs = ["a red square", "tax tables 2023"]
    code, stdout, err = folio_here(
        capsys,
        "rerank", "--model", str(tiny_m0_dir), "--device", "cpu", "--json", "--query", "red",
        "--doc-image", str(images["red"]), "--doc", docs[0], "--doc", docs[1], "--doc-image", str(images["blue"]),
    )
    assert code == 0, err
    body = json.loads(stdout)
    assert body["model"] and body["usage"]["total_tokens"] >= 0
    got = {x["index"]: x["relevance_score"] for x in body["results"]}
    # order given: the --doc texts first, then the --doc-image files, each in command-line order
    candidates = [docs[0], docs[1], ImageInput(images["red"]), ImageInput(images["blue"])]
    expected = model.score_pairs([("red", c) for c in candidates]).scores
    assert got == pytest.approx(dict(enumerate(expected)), abs=1e-5)
    assert [x["relevance_score"] for x in body["results"]] == sorted(got.values(), reverse=True)


def test_table_output_with_image_query_and_top_n(tiny_m0_dir: Path, images: dict[str, Path], model: Any, capsys) -> None:
    code, stdout, err = folio_here(
        capsys,
        "rerank", "--model", str(tiny_m0_dir), "--device", "cpu", "--top-n", "2",
        "--query-image", str(images["red"]), "--doc", "first text", "--doc", "second text",
        "--doc-image", str(images["blue"]),
    )
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert lines[0].split() == ["rank", "index", "score", "kind", "candidate"]
    assert len(lines) == 3  # header + top 2
    candidates = ["first text", "second text", ImageInput(images["blue"])]
    expected = model.score_pairs([(ImageInput(images["red"]), c) for c in candidates]).scores
    best = sorted(range(3), key=lambda i: -expected[i])[:2]
    assert [int(line.split()[1]) for line in lines[1:]] == best
    assert [float(line.split()[2]) for line in lines[1:]] == pytest.approx([expected[i] for i in best], abs=1e-4)


@pytest.mark.slow  # a fresh process imports torch and loads the model
def test_rerank_server_command_serves_the_contract(tiny_m0_dir: Path, model: Any, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "FOLIO_RERANK_API_KEY": "k1"}
    store = f"sqlite:///{tmp_path}/pages.db"
    fill(store)
    proc = subprocess.Popen(
        [sys.executable, "-m", "search_api.main", "rerank-server", "--model", str(tiny_m0_dir),
         "--device", "cpu", "--port", str(port), "--max-queue", "4", "--store", store],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(url, proc, 120, lambda: proc.stdout.read() if proc.stdout else "", "rerank-server")
        except ServerStartError as exc:
            pytest.fail(str(exc))
        body = {"query": "q", "documents": ["alpha", {"text": "beta"}]}
        assert httpx.post(f"{url}/v1/rerank", json=body).status_code == 401
        r = httpx.post(f"{url}/v1/rerank", json=body, headers={"Authorization": "Bearer k1"}, timeout=60)
        assert r.status_code == 200, r.text
        got = {x["index"]: x["relevance_score"] for x in r.json()["results"]}
        expected = model.score_pairs([("q", "alpha"), ("q", "beta")]).scores
        assert got == pytest.approx(dict(enumerate(expected)), abs=1e-5)
        # --store: a page reference is that page (a text document: its text)
        body = {"query": "q", "documents": [page_ref(NOTE.page_id)]}
        r = httpx.post(f"{url}/v1/rerank", json=body, headers={"Authorization": "Bearer k1"}, timeout=60)
        assert r.status_code == 200, r.text
        expected = model.score_pairs([("q", TextInput(NOTE.text))]).scores
        assert r.json()["results"][0]["relevance_score"] == pytest.approx(expected[0], abs=1e-5)
    finally:
        proc.terminate()
        proc.wait(30)
