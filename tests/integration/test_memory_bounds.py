"""Memory is bounded by the work, never by the input: both servers, as real processes over HTTP,
refuse a body over their cap while it streams (chunked, no declared length) and answer a document
just under the cap, or cut to a few tokens, without their resident memory growing with it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.api_server import REPO, ServerStartError, free_port, wait_until_healthy

pytestmark = pytest.mark.slow  # fresh processes import torch and load the model

MiB = 1 << 20
# Peak resident memory a server may gain over the hostile calls of a test: far below what any of
# them would take if the body were buffered whole (300 MB) or a document tokenised whole (~65x).
MAX_GROWTH = 256 * MiB


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


class Watched:
    """A server process whose peak RSS (VmHWM) is measured from a reset, after warm-up."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.proc, self.log = url, proc, log

    def reset_peak(self) -> int:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        return _status_kib(self.proc.pid, "VmRSS") * 1024

    def peak(self) -> int:
        return _status_kib(self.proc.pid, "VmHWM") * 1024


def _start(cmd: list[str], tmp_path: Path, name: str) -> Iterator[Watched]:
    port = free_port()
    log = tmp_path / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env.update({"FOLIO_EMBEDDER": "hash", "PYTHONUNBUFFERED": "1", "FOLIO_UPLOAD_DIR": str(tmp_path / "up")})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "search_api.main", *cmd, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, proc, 180, lambda: log.read_text(errors="replace")[-4000:], name)
    except ServerStartError as exc:
        proc.kill()
        pytest.fail(str(exc))
    try:
        yield Watched(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def rerank_server(tiny_m0_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """`folio rerank-server` with its default body cap (64 MiB)."""
    cmd = ["rerank-server", "--model", str(tiny_m0_dir), "--device", "cpu", "--dtype", "float32"]
    yield from _start(cmd, tmp_path_factory.mktemp("rerank-server"), "rerank-server")


@pytest.fixture(scope="module")
def search_server(tiny_m0_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """`folio serve` with the same model in process; its /v1/rerank cap follows the query-image cap."""
    tmp = tmp_path_factory.mktemp("serve")
    cmd = ["serve", "--store", f"sqlite:///{tmp}/api.db", "--anonymous", "--reranker", f"local:{tiny_m0_dir}"]
    yield from _start(cmd, tmp, "folio serve")


def _chunked_post(url: str, path: str, total: int) -> tuple[int, bytes]:
    """POST `total` bytes of a JSON-looking body with `Transfer-Encoding: chunked` (no length) on a
    raw socket, reading the answer as soon as the server sends one: (status, body)."""
    host, port = url.removeprefix("http://").split(":")
    chunk = b'{"query": "q", "documents": ["' + b"x" * (MiB - 32)
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        sent = 0
        sock.setblocking(False)
        answer = b""
        try:
            while sent < total and b"\r\n\r\n" not in answer:
                frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
                view = memoryview(frame)
                while view and b"\r\n\r\n" not in answer:
                    try:
                        view = view[sock.send(view) :]
                    except BlockingIOError:
                        pass
                    try:
                        answer += sock.recv(65536)
                    except BlockingIOError:
                        pass
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer is what it sent before
        sock.setblocking(True)
        try:
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), answer[:200]
    return int(head.split()[1]), body


def _hostile_calls(server: Watched, cap: int) -> None:
    status, body = _chunked_post(server.url, "/v1/rerank", 300 * MiB)
    assert status == 413 and b"MiB" in body, body[:200]

    # A document just under the cap: answered, cut to the model's limit. (Not echoed: an echo adds
    # one more copy of the body, whatever it holds, on top of the request's own.)
    doc = "Memory follows the work, not the input. " * ((cap - 4096) // 40)
    r = httpx.post(
        f"{server.url}/v1/rerank",
        json={"query": "what does memory follow?", "documents": [doc], "return_documents": False},
        timeout=300,
    )
    assert r.status_code == 200, r.text[:500]
    long_tokens = r.json()["usage"]["total_tokens"]
    del doc

    # The same kind of text cut to 64 tokens: fewer tokens scored, answered and echoed whole.
    doc = "Memory follows the work, not the input. " * (cap // 4 // 40)
    r = httpx.post(
        f"{server.url}/v1/rerank",
        json={"query": "what does memory follow?", "documents": [doc], "max_tokens_per_doc": 64},
        timeout=300,
    )
    assert r.status_code == 200, r.text[:500]
    assert 64 < r.json()["usage"]["total_tokens"] < long_tokens
    assert r.json()["results"][0]["document"]["text"] == doc


def _check(server: Watched, cap: int) -> None:
    warm = httpx.post(f"{server.url}/v1/rerank", json={"query": "q", "documents": ["warm up"]}, timeout=120)
    assert warm.status_code == 200, warm.text
    before = server.reset_peak()
    _hostile_calls(server, cap)
    grown = server.peak() - before
    assert grown < MAX_GROWTH, f"peak RSS grew by {grown / MiB:.0f} MiB over the hostile calls"
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    assert server.proc.poll() is None


def test_rerank_server_memory_is_bounded(rerank_server: Watched) -> None:
    _check(rerank_server, 64 * MiB)


def test_search_api_rerank_memory_is_bounded(search_server: Watched) -> None:
    # folio serve caps /v1/rerank at the query-image cap in base64 plus 1 MiB (20 MiB by default).
    _check(search_server, (20 * MiB) * 4 // 3 + MiB)
