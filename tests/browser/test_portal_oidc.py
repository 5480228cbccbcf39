"""Signing in to the portal through a real Keycloak (deploy/keycloak/folio-realm.json) in headless
Chromium: Keycloak's own login page, the person's groups deciding what they find, and signing out
ending the session at Folio and at Keycloak."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.stack import Stack, base_env, run_folio, start_server
from tests.fixtures.keycloak import CLIENT_SECRETS, Keycloak

pytestmark = [pytest.mark.browser, pytest.mark.keycloak, pytest.mark.slow]

# collection: (ACL group, file); one query ("text better") matches a page of each.
DOCS = {
    "staff": ("staff", "pdflatex-4-pages.pdf"),
    "legal": ("legal", "google-doc-document.pdf"),
    "public": ("", "multilang.pdf"),
}
QUERY = "text better"
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.")


@pytest.fixture(scope="module")
def oidc_portal(
    tmp_path_factory: pytest.TempPathFactory, shared_pdfs: Path, keycloak: Keycloak
) -> Iterator[tuple[Stack, dict[str, str]]]:
    """(a portal signing in with Keycloak, page_id -> collection for every page)."""
    workdir = tmp_path_factory.mktemp("oidc-portal")
    env = base_env(workdir)
    for collection, (group, name) in DOCS.items():
        run_folio(["index", str(shared_pdfs / name), "--collection", collection]
                  + (["--groups", group] if group else []), env)  # fmt: skip
    oidc = {"FOLIO_OIDC_ISSUER": keycloak.issuer, "FOLIO_OIDC_CLIENT_ID": "folio-portal",
            "FOLIO_OIDC_CLIENT_SECRET": CLIENT_SECRETS["folio-portal"],
            "FOLIO_OIDC_ADMIN_GROUP": "folio-admins", "FOLIO_OIDC_PROVIDER_NAME": "Keycloak"}  # fmt: skip
    stack = start_server(workdir, name="oidc", env=oidc)
    collection_of: dict[str, str] = {}
    with stack.client(keycloak.token("carol")) as admin:  # carol is in folio-admins
        for doc in admin.get("/v1/documents").json()["documents"]:
            pages = admin.get(f"/v1/documents/{doc['doc_id']}/pages").json()["pages"]
            collection_of.update({p["page_id"]: doc["collection"] for p in pages})
    assert set(collection_of.values()) == set(DOCS)
    yield stack, collection_of
    stack.stop()


def sign_in_at_keycloak(page: Any, username: str) -> None:
    """From the portal's sign-in form to Keycloak's login page, and back signed in."""
    page.locator("#signin-dialog-provider").wait_for(state="visible")
    assert page.locator("#signin-dialog-provider").inner_text() == "Sign in with Keycloak"
    page.click("#signin-dialog-provider")
    page.locator("#username").wait_for(state="visible")  # Keycloak's own form
    assert page.url.startswith("http://127.0.0.1:") and "/realms/folio/" in page.url
    page.fill("#username", username)
    page.fill("#password", f"{username}-password")
    page.click("#kc-login")


def search(page: Any, collection_of: dict[str, str]) -> set[str]:
    page.select_option("#mode", "bm25")
    page.fill("#q", QUERY)
    page.press("#q", "Enter")
    page.wait_for_selector("#results .hit")
    ids = page.locator("#results .hit").evaluate_all("els => els.map(e => e.dataset.pageId)")
    return {collection_of[i] for i in ids}


@pytest.mark.parametrize(("username", "name", "group"), [("alice", "Alice Example", "staff"),
                                                         ("bob", "Bob Example", "legal")])  # fmt: skip
def test_a_person_signs_in_with_keycloak_and_sees_their_groups_pages(
    oidc_portal: tuple[Stack, dict[str, str]], open_portal: Any, username: str, name: str, group: str
) -> None:
    stack, collection_of = oidc_portal
    page = open_portal(stack)
    sign_in_at_keycloak(page, username)
    page.wait_for_function(
        f"document.querySelector('#account-status')?.textContent?.includes({f'Signed in as {name} · {group}'!r})"
    )
    assert page.url.startswith(stack.url)
    seen = search(page, collection_of)
    assert group in seen and seen <= {group, "public"}
    options = set(page.locator("#collection option").evaluate_all("els => els.map(e => e.value)"))
    assert options - {""} == {group, "public"}  # the documents they may read
    # The browser holds a session cookie its scripts cannot read, and no token anywhere.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["folio_session"]["httpOnly"] and cookies["folio_session"]["sameSite"] == "Lax"
    readable = page.evaluate(
        "document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)"
    )
    assert not JWT.search(readable)


def test_signing_out_ends_the_session_at_folio_and_at_keycloak(
    oidc_portal: tuple[Stack, dict[str, str]], open_portal: Any
) -> None:
    stack, _ = oidc_portal
    page = open_portal(stack)
    sign_in_at_keycloak(page, "alice")
    page.wait_for_function("document.querySelector('#account-status')?.textContent?.includes('Alice Example')")
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "folio_session")

    page.click("#signout")
    # Keycloak ends its session and sends the browser back to the portal, signed out.
    page.locator("#signin").wait_for(state="visible")
    assert page.url.startswith(stack.url)
    with httpx.Client(base_url=stack.url, cookies={"folio_session": session}, timeout=30) as client:
        assert client.get("/v1/me").status_code == 401  # the old cookie no longer works

    # Keycloak asks for the password again: its own session ended too.
    page.click("#signin-dialog-provider")
    page.locator("#username").wait_for(state="visible")
    assert page.locator("#password").is_visible()
