"""Property-based requests generated from the OpenAPI document (schemathesis) against a running
server with an indexed store: no request may produce a 5xx other than a deliberate 503."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.api_server import StartServer, index_files


@pytest.mark.slow
def test_openapi_fuzzing_finds_no_server_error(
    api_server: StartServer, tmp_path: Path, shared_pdfs: Path, tiny_m0_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path}/fuzz.db"
    index_files(url, [shared_pdfs / "multilang.pdf"])
    # A real (tiny) reranker, so /v1/rerank answers rather than 503 "no reranker configured".
    server = api_server(url, reranker=f"local:{tiny_m0_dir}")
    admin = server.create_key([], admin=True)
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if st is None:
        pytest.skip("schemathesis is not installed")
    cmd = [
        st, "run", f"{server.base_url}/openapi.json",
        "--checks", "not_a_server_error",
        "--max-examples", "8", "--seed", "1", "--workers", "1", "--phases", "examples,coverage,fuzzing",
        "--request-timeout", "30",
        # Uploads start real indexing jobs; they have their own tests.
        "--exclude-path", "/v1/documents", "--exclude-method", "DELETE",
        "-H", f"Authorization: Bearer {admin}",
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (
        run.stdout[-6000:] + run.stderr[-2000:] + "\nserver log:\n" + server.log_tail()
    )
    with server.client(admin) as client:
        assert "folio_unexpected_errors_total 0.0" in client.get("/metrics").text
