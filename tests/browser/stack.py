"""A real Folio stack for the browser tests: a SQLite store indexed with the CLI, API keys made
with `folio keys create`, and `folio serve` in a subprocess on a free port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.fixtures.api_server import ServerStartError, free_port, wait_until_healthy

REPO = Path(__file__).resolve().parents[2]
FOLIO = [sys.executable, "-m", "search_api.main"]

# What each group may see, by collection. Both private collections share the words
# "lorem ipsum", so one query shows whether a key sees the other group's pages.
CORPUS: dict[str, tuple[str, list[str]]] = {
    # collection: (acl groups, files in the shared corpus)
    "alpha": ("team-a", ["multicolumn.pdf", "pdflatex-4-pages.pdf"]),
    "beta": ("team-b", ["minimal-document.pdf", "pdflatex-image.pdf"]),
    "public": ("", ["crazyones-pdfa.pdf"]),
}


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    keys: dict[str, str] = field(default_factory=dict)  # group -> API key
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_folio(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([*FOLIO, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(
            f"folio {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout + done.stderr


def base_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FOLIO_STORE=f"sqlite:///{workdir / 'folio.db'}",
        FOLIO_KEYS_FILE=str(workdir / "keys.db"),
        FOLIO_UPLOAD_DIR=str(workdir / "uploads"),
        FOLIO_EMBEDDER="hash",  # fast and offline; the portal does not depend on embedding quality
        FOLIO_RERANKER="none",
        FOLIO_ANONYMOUS="false",
    )
    return env


def build_corpus(workdir: Path, pdfs: Path) -> dict[str, str]:
    """Index CORPUS and create one key per group; returns group -> key."""
    env = base_env(workdir)
    for collection, (groups, files) in CORPUS.items():
        args = ["index", *[str(pdfs / f) for f in files], "--collection", collection]
        if groups:
            args += ["--groups", groups]
        run_folio(args, env)
    keys: dict[str, str] = {}
    for group in sorted({g for g, _ in CORPUS.values() if g}):
        out = run_folio(["keys", "create", "--groups", group, "--name", f"browser-{group}"], env)
        match = re.search(r"folio_[A-Za-z0-9_\-]+", out)
        if not match:
            raise RuntimeError(f"no key in the output of folio keys create:\n{out}")
        keys[group] = match.group(0)
    return keys


def start_server(
    workdir: Path, *, anonymous: bool = False, name: str = "server", env: dict[str, str] | None = None
) -> Stack:
    env = {**base_env(workdir), **(env or {})}
    env["FOLIO_ANONYMOUS"] = "true" if anonymous else "false"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*FOLIO, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack = Stack(url=url, env=env, proc=proc, log=log)
    try:
        wait_until_healthy(url, proc, 120, lambda: log.read_text()[-4000:])
    except ServerStartError:
        stack.stop()
        raise
    return stack
