"""Fixtures for the portal tests: a real `folio serve` over an indexed SQLite store, and Debian's
headless Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import Stack, build_corpus, start_server
from tests.fixtures.required import unavailable

CHROMIUM = os.environ.get("FOLIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        unavailable("BROWSER", f"Chromium not found at {CHROMIUM} (scripts/setup.sh --dev installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def portal_workdir(
    tmp_path_factory: pytest.TempPathFactory, shared_pdfs: Path
) -> tuple[Path, dict[str, str]]:
    workdir = tmp_path_factory.mktemp("portal")
    keys = build_corpus(workdir, shared_pdfs)
    return workdir, keys


@pytest.fixture(scope="session")
def portal(portal_workdir: tuple[Path, dict[str, str]]) -> Iterator[Stack]:
    """The server as deployed: every request needs an API key."""
    workdir, keys = portal_workdir
    stack = start_server(workdir, anonymous=False, name="portal")
    stack.keys = keys
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def anonymous_portal(portal_workdir: tuple[Path, dict[str, str]]) -> Iterator[Stack]:
    """A second server on the same store with anonymous access on (the quick start)."""
    workdir, keys = portal_workdir
    stack = start_server(workdir, anonymous=True, name="anonymous")
    stack.keys = keys
    yield stack
    stack.stop()


@pytest.fixture
def open_portal(browser: Any) -> Iterator[Callable[..., Any]]:
    """open_portal(stack, key=None, path="/") -> a Playwright page on the portal, signed in with `key`
    when one is given. Uncaught
    JavaScript errors on any page fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def _open(
        stack: Stack, key: str | None = None, path: str = "/", viewport: dict[str, int] | None = None
    ) -> Any:
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        if key:  # signed in as the portal's form does: a cookie session from POST /auth/key
            assert context.request.post(stack.url + "/auth/key", data={"key": key}).ok
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(stack.url + path)
        return page

    yield _open
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the portal: {errors}"
